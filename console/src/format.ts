/** Times in UTC, to the minute, the same for every reader whatever their time zone. */
export function when(iso: string | null | undefined, empty = '—'): string {
  if (!iso) return empty;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Seconds as a person says them: "10 min", "7 days". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds % 86_400 === 0) return `${seconds / 86_400} day${seconds === 86_400 ? '' : 's'}`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** A value of `<input type="datetime-local">` read as UTC (the console shows every time in UTC). */
export function fromLocalInput(value: string): string {
  return new Date(`${value}:00.000Z`).toISOString();
}

/** An ISO time as the value of `<input type="datetime-local">`, in UTC. */
export function toLocalInput(iso: string | null | undefined): string {
  return iso ? new Date(iso).toISOString().slice(0, 16) : '';
}
