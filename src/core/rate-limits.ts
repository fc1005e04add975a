/** A budget of `points` requests per `seconds`; null lifts that limit. */
export interface Budget {
  points: number;
  seconds: number;
}

export interface RateLimits {
  /** Every API request, per client address (counted in memory, per replica). */
  ip: Budget | null;
  /** Requests authenticated by one license key (in memory, per replica). */
  license: Budget | null;
  /** Requests authenticated by one API key (in memory, per replica). */
  apiKey: Budget | null;
  /** Failed authentications per client address (counted exactly in PostgreSQL, across replicas). */
  authFailures: Budget | null;
}

/** The defaults and their reasons are in the README ("Rate limits"). */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  ip: { points: 6000, seconds: 60 },
  license: { points: 600, seconds: 60 },
  apiKey: { points: 3000, seconds: 60 },
  authFailures: { points: 300, seconds: 600 },
};
