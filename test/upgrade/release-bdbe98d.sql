--
-- PostgreSQL database dump
--

\restrict wTN4VGFZNFAf2bpH3c4OIOp9MZ1zafWHNl11weGgDIOf4qrG7sbsqxUb8QsgCru

-- Dumped from database version 18.4
-- Dumped by pg_dump version 18.4

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: licentric_count_machines(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.licentric_count_machines() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
      begin
        if tg_op in ('UPDATE', 'DELETE') and old.deleted_at is null then
          insert into machine_count_deltas (license_id, delta, core_delta) values (old.license_id, -1, -coalesce(old.cores, 1));
        end if;
        if tg_op in ('UPDATE', 'INSERT') and new.deleted_at is null then
          insert into machine_count_deltas (license_id, delta, core_delta) values (new.license_id, 1, coalesce(new.cores, 1));
        end if;
        return null;
      end $$;


--
-- Name: licentric_count_processes(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.licentric_count_processes() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
      begin
        if tg_op = 'DELETE' then
          insert into process_count_deltas (license_id, machine_id, delta) values (old.license_id, old.machine_id, -1);
        else
          insert into process_count_deltas (license_id, machine_id, delta) values (new.license_id, new.machine_id, 1);
        end if;
        return null;
      end $$;


--
-- Name: licentric_notify_auth(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.licentric_notify_auth() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
      begin
        perform pg_notify('licentric_auth', tg_table_name);
        return null;
      end $$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: api_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_keys (
    id uuid NOT NULL,
    name text NOT NULL,
    token_hash bytea NOT NULL,
    token_hint text NOT NULL,
    scopes text[] NOT NULL,
    expires_at timestamp(3) with time zone,
    revoked_at timestamp(3) with time zone,
    last_used_at timestamp(3) with time zone,
    created_at timestamp(3) with time zone NOT NULL,
    product_id uuid
);


--
-- Name: entitlements; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.entitlements (
    id uuid NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    metadata json DEFAULT '{}'::json NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    updated_at timestamp(3) with time zone NOT NULL
);


--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    id bigint NOT NULL,
    type text NOT NULL,
    occurred_at timestamp(3) with time zone NOT NULL,
    machine_id uuid,
    license_id uuid,
    data json DEFAULT '{}'::json NOT NULL,
    relayed_at timestamp(3) with time zone
);


--
-- Name: events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: idempotency_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.idempotency_keys (
    scope text NOT NULL,
    key text NOT NULL,
    fingerprint text NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    status integer,
    body text
);


--
-- Name: license_entitlements; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.license_entitlements (
    license_id uuid NOT NULL,
    entitlement_id uuid NOT NULL,
    created_at timestamp(3) with time zone NOT NULL
);


--
-- Name: licenses; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.licenses (
    id uuid NOT NULL,
    policy_id uuid NOT NULL,
    key_hash bytea NOT NULL,
    name text,
    metadata json DEFAULT '{}'::json NOT NULL,
    expires_at timestamp(3) with time zone,
    suspended_at timestamp(3) with time zone,
    created_at timestamp(3) with time zone NOT NULL,
    updated_at timestamp(3) with time zone NOT NULL,
    key_hint text DEFAULT ''::text NOT NULL,
    deleted_at timestamp(3) with time zone,
    expiry_announced timestamp(3) with time zone,
    machine_count integer DEFAULT 0 NOT NULL,
    core_count bigint DEFAULT 0 NOT NULL,
    overage_at timestamp(3) with time zone,
    expiry_pending boolean DEFAULT false NOT NULL,
    process_count integer DEFAULT 0 NOT NULL
);


--
-- Name: machine_count_deltas; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.machine_count_deltas (
    license_id uuid NOT NULL,
    delta integer NOT NULL,
    core_delta bigint DEFAULT 0 NOT NULL
);


--
-- Name: machines; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.machines (
    id uuid NOT NULL,
    license_id uuid NOT NULL,
    fingerprint text NOT NULL,
    name text,
    platform text,
    hostname text,
    cores integer,
    metadata json DEFAULT '{}'::json NOT NULL,
    last_heartbeat_at timestamp(3) with time zone NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    updated_at timestamp(3) with time zone NOT NULL,
    deleted_at timestamp(3) with time zone,
    deactivation_reason text,
    dead_at timestamp(3) with time zone,
    process_count integer DEFAULT 0 NOT NULL,
    CONSTRAINT machines_cores_check CHECK ((cores >= 1)),
    CONSTRAINT machines_deactivation_reason_check CHECK ((deactivation_reason = ANY (ARRAY['MANUAL'::text, 'HEARTBEAT_DEAD'::text, 'LICENSE_DELETED'::text]))),
    CONSTRAINT machines_deactivation_reason_check_set CHECK (((deleted_at IS NULL) = (deactivation_reason IS NULL))),
    CONSTRAINT machines_platform_check CHECK ((platform = ANY (ARRAY['macos'::text, 'windows'::text, 'linux'::text, 'docker'::text, 'kubernetes'::text])))
);


--
-- Name: mikro_orm_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.mikro_orm_migrations (
    id integer NOT NULL,
    name character varying(255) NOT NULL,
    executed_at timestamp(6) with time zone DEFAULT CURRENT_TIMESTAMP(6) NOT NULL
);


--
-- Name: mikro_orm_migrations_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.mikro_orm_migrations_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: mikro_orm_migrations_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.mikro_orm_migrations_id_seq OWNED BY public.mikro_orm_migrations.id;


--
-- Name: policies; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.policies (
    id uuid NOT NULL,
    name text NOT NULL,
    max_machines integer,
    key_prefix text NOT NULL,
    metadata json DEFAULT '{}'::json NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    updated_at timestamp(3) with time zone NOT NULL,
    require_heartbeat boolean DEFAULT false NOT NULL,
    heartbeat_duration integer DEFAULT 600 NOT NULL,
    heartbeat_cull_strategy text DEFAULT 'DEACTIVATE_DEAD'::text NOT NULL,
    heartbeat_resurrection_window integer DEFAULT 0 NOT NULL,
    deleted_at timestamp(3) with time zone,
    product_id uuid,
    machine_matching_strategy text DEFAULT 'MATCH_ANY'::text NOT NULL,
    max_cores integer,
    overage_strategy text DEFAULT 'NO_OVERAGE'::text NOT NULL,
    machine_uniqueness_strategy text DEFAULT 'UNIQUE_PER_LICENSE'::text NOT NULL,
    duration integer,
    expiration_basis text DEFAULT 'FROM_CREATION'::text NOT NULL,
    expiration_strategy text DEFAULT 'RESTRICT_ACCESS'::text NOT NULL,
    renewal_basis text DEFAULT 'FROM_NOW_IF_EXPIRED'::text NOT NULL,
    check_out_ttl integer DEFAULT 2592000 NOT NULL,
    allow_non_expiring_files boolean DEFAULT false NOT NULL,
    max_processes integer,
    process_leasing_strategy text DEFAULT 'PER_MACHINE'::text NOT NULL,
    process_heartbeat_duration integer DEFAULT 600 NOT NULL,
    CONSTRAINT policies_check_out_ttl_check CHECK (((check_out_ttl >= 3600) AND (check_out_ttl <= 315360000))),
    CONSTRAINT policies_duration_check CHECK (((duration >= 60) AND (duration <= 1577880000))),
    CONSTRAINT policies_expiration_basis_check CHECK ((expiration_basis = ANY (ARRAY['FROM_CREATION'::text, 'FROM_FIRST_ACTIVATION'::text, 'FROM_FIRST_VALIDATION'::text]))),
    CONSTRAINT policies_expiration_strategy_check CHECK ((expiration_strategy = ANY (ARRAY['RESTRICT_ACCESS'::text, 'REVOKE_ACCESS'::text, 'MAINTAIN_ACCESS'::text]))),
    CONSTRAINT policies_heartbeat_cull_strategy_check CHECK ((heartbeat_cull_strategy = ANY (ARRAY['DEACTIVATE_DEAD'::text, 'KEEP_DEAD'::text]))),
    CONSTRAINT policies_heartbeat_duration_check CHECK (((heartbeat_duration >= 60) AND (heartbeat_duration <= 2592000))),
    CONSTRAINT policies_heartbeat_resurrection_window_check CHECK (((heartbeat_resurrection_window >= 0) AND (heartbeat_resurrection_window <= 2592000))),
    CONSTRAINT policies_machine_matching_strategy_check CHECK ((machine_matching_strategy = ANY (ARRAY['MATCH_ANY'::text, 'MATCH_MOST'::text, 'MATCH_ALL'::text]))),
    CONSTRAINT policies_machine_uniqueness_strategy_check CHECK ((machine_uniqueness_strategy = ANY (ARRAY['UNIQUE_PER_LICENSE'::text, 'UNIQUE_PER_POLICY'::text, 'UNIQUE_PER_PRODUCT'::text, 'UNIQUE_PER_INSTANCE'::text]))),
    CONSTRAINT policies_max_cores_check CHECK ((max_cores > 0)),
    CONSTRAINT policies_max_machines_check CHECK (((max_machines IS NULL) OR (max_machines >= 1))),
    CONSTRAINT policies_max_processes_check CHECK ((max_processes > 0)),
    CONSTRAINT policies_overage_strategy_check CHECK ((overage_strategy = ANY (ARRAY['NO_OVERAGE'::text, 'ALLOW_1_25X_OVERAGE'::text, 'ALLOW_1_5X_OVERAGE'::text, 'ALLOW_2X_OVERAGE'::text, 'ALWAYS_ALLOW_OVERAGE'::text]))),
    CONSTRAINT policies_process_heartbeat_duration_check CHECK (((process_heartbeat_duration >= 60) AND (process_heartbeat_duration <= 2592000))),
    CONSTRAINT policies_process_leasing_strategy_check CHECK ((process_leasing_strategy = ANY (ARRAY['PER_MACHINE'::text, 'PER_LICENSE'::text]))),
    CONSTRAINT policies_renewal_basis_check CHECK ((renewal_basis = ANY (ARRAY['FROM_EXPIRY'::text, 'FROM_NOW'::text, 'FROM_NOW_IF_EXPIRED'::text])))
);


--
-- Name: policy_entitlements; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.policy_entitlements (
    policy_id uuid NOT NULL,
    entitlement_id uuid NOT NULL,
    created_at timestamp(3) with time zone NOT NULL
);


--
-- Name: process_count_deltas; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.process_count_deltas (
    license_id uuid NOT NULL,
    machine_id uuid NOT NULL,
    delta integer NOT NULL
);


--
-- Name: processes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.processes (
    id uuid NOT NULL,
    machine_id uuid NOT NULL,
    license_id uuid NOT NULL,
    pid text,
    metadata json DEFAULT '{}'::json NOT NULL,
    last_heartbeat_at timestamp(3) with time zone NOT NULL,
    created_at timestamp(3) with time zone NOT NULL
);


--
-- Name: products; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.products (
    id uuid NOT NULL,
    name text NOT NULL,
    code text NOT NULL,
    url text,
    metadata json NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    updated_at timestamp(3) with time zone NOT NULL,
    deleted_at timestamp(3) with time zone
);


--
-- Name: rate_limit_auth_failures; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.rate_limit_auth_failures (
    key character varying(255) NOT NULL,
    points integer DEFAULT 0 NOT NULL,
    expire bigint
);


--
-- Name: signing_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.signing_keys (
    id uuid NOT NULL,
    algorithm text DEFAULT 'ed25519'::text NOT NULL,
    public_key bytea NOT NULL,
    private_key_encrypted bytea NOT NULL,
    status text NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    activated_at timestamp(3) with time zone NOT NULL,
    retired_at timestamp(3) with time zone,
    revoked_at timestamp(3) with time zone,
    CONSTRAINT signing_keys_algorithm_check CHECK ((algorithm = 'ed25519'::text)),
    CONSTRAINT signing_keys_check CHECK ((((status = 'active'::text) AND (retired_at IS NULL) AND (revoked_at IS NULL)) OR ((status = 'retired'::text) AND (retired_at IS NOT NULL) AND (revoked_at IS NULL)) OR ((status = 'revoked'::text) AND (retired_at IS NOT NULL) AND (revoked_at IS NOT NULL)))),
    CONSTRAINT signing_keys_public_key_check CHECK ((octet_length(public_key) = 32)),
    CONSTRAINT signing_keys_status_check CHECK ((status = ANY (ARRAY['active'::text, 'retired'::text, 'revoked'::text])))
);


--
-- Name: webhook_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_attempts (
    id uuid NOT NULL,
    message_id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    attempt integer NOT NULL,
    attempted_at timestamp(3) with time zone NOT NULL,
    succeeded boolean NOT NULL,
    status_code integer,
    latency_ms integer NOT NULL,
    error text,
    response_excerpt text,
    next_attempt_at timestamp(3) with time zone
);


--
-- Name: webhook_endpoints; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_endpoints (
    id uuid NOT NULL,
    url text NOT NULL,
    description text,
    event_types text[],
    enabled boolean NOT NULL,
    disabled_reason text,
    secret text NOT NULL,
    previous_secret text,
    previous_secret_expires_at timestamp(3) with time zone,
    consecutive_failures integer DEFAULT 0 NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    updated_at timestamp(3) with time zone NOT NULL,
    deleted_at timestamp(3) with time zone,
    CONSTRAINT webhook_endpoints_disabled_reason_check CHECK ((disabled_reason = ANY (ARRAY['MANUAL'::text, 'FAILING'::text])))
);


--
-- Name: webhook_messages; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_messages (
    id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    event_id bigint,
    type text NOT NULL,
    payload text NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    wanted_at timestamp(3) with time zone
);


--
-- Name: mikro_orm_migrations id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mikro_orm_migrations ALTER COLUMN id SET DEFAULT nextval('public.mikro_orm_migrations_id_seq'::regclass);


--
-- Data for Name: api_keys; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.api_keys (id, name, token_hash, token_hint, scopes, expires_at, revoked_at, last_used_at, created_at, product_id) VALUES ('01a242b9-240b-70ac-96f8-7888d59b2e66', 'admin (created on first start)', '\xfe2da4997a2cae80e50f7cbb008e5915c4728b8d39bdd555450cabd50e63e8a2', 'lct_HO7YFg…aaK4', '{admin}', NULL, NULL, NULL, '2026-12-04 20:22:39.366+00', NULL);
INSERT INTO public.api_keys (id, name, token_hash, token_hint, scopes, expires_at, revoked_at, last_used_at, created_at, product_id) VALUES ('01a242b9-2e70-737a-aafd-7ae5e7dc7850', 'fixture', '\x33411b579b6d0663ff35a6c2c280e66a81a4a053dc7250092a195b0f467e0976', 'lct_BcKNWu…VxCA', '{admin}', NULL, NULL, '2026-12-04 20:22:42.785+00', '2026-12-04 20:22:42.031+00', NULL);


--
-- Data for Name: entitlements; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.entitlements (id, code, name, metadata, created_at, updated_at) VALUES ('01a242b9-33b9-7005-80ae-f66cd5d93464', 'EXPORT', 'Export', '{}', '2026-12-04 20:22:43.37+00', '2026-12-04 20:22:43.37+00');
INSERT INTO public.entitlements (id, code, name, metadata, created_at, updated_at) VALUES ('01a242b9-33f6-7639-b899-7d5bc8b2c963', 'RENDER', 'Render', '{}', '2026-12-04 20:22:43.436+00', '2026-12-04 20:22:43.436+00');


--
-- Data for Name: events; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (1, 'api-key.created', '2026-12-04 20:22:39.366+00', NULL, NULL, '{"apiKey" : {"id" : "01a242b9-240b-70ac-96f8-7888d59b2e66", "name" : "admin (created on first start)", "scopes" : ["admin"], "productId" : null, "tokenHint" : "lct_HO7YFg…aaK4", "expiresAt" : null, "revokedAt" : null, "lastUsedAt" : null, "createdAt" : "2026-12-04T20:22:39.366Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (2, 'api-key.created', '2026-12-04 20:22:42.031+00', NULL, NULL, '{"apiKey" : {"id" : "01a242b9-2e70-737a-aafd-7ae5e7dc7850", "name" : "fixture", "scopes" : ["admin"], "productId" : null, "tokenHint" : "lct_BcKNWu…VxCA", "expiresAt" : null, "revokedAt" : null, "lastUsedAt" : null, "createdAt" : "2026-12-04T20:22:42.031Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (3, 'product.created', '2026-12-04 20:22:43.139+00', NULL, NULL, '{"product" : {"id" : "01a242b9-32c4-70d9-a66e-540c07abd670", "name" : "Studio", "code" : "STUDIO", "url" : null, "metadata" : {"tier":"pro"}, "createdAt" : "2026-12-04T20:22:43.139Z", "updatedAt" : "2026-12-04T20:22:43.139Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (4, 'entitlement.created', '2026-12-04 20:22:43.37+00', NULL, NULL, '{"entitlement" : {"id" : "01a242b9-33b9-7005-80ae-f66cd5d93464", "code" : "EXPORT", "name" : "Export", "metadata" : {}, "createdAt" : "2026-12-04T20:22:43.370Z", "updatedAt" : "2026-12-04T20:22:43.370Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (5, 'entitlement.created', '2026-12-04 20:22:43.436+00', NULL, NULL, '{"entitlement" : {"id" : "01a242b9-33f6-7639-b899-7d5bc8b2c963", "code" : "RENDER", "name" : "Render", "metadata" : {}, "createdAt" : "2026-12-04T20:22:43.436Z", "updatedAt" : "2026-12-04T20:22:43.436Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (6, 'policy.created', '2026-12-04 20:22:44.062+00', NULL, NULL, '{"policy" : {"id" : "01a242b9-3677-7053-816e-8b75f90f3039", "name" : "Two seats", "maxMachines" : 2, "keyPrefix" : "OLD", "requireHeartbeat" : false, "heartbeatDuration" : 600, "heartbeatCullStrategy" : "DEACTIVATE_DEAD", "heartbeatResurrectionWindow" : 0, "maxCores" : 8, "overageStrategy" : "NO_OVERAGE", "machineUniquenessStrategy" : "UNIQUE_PER_LICENSE", "productId" : "01a242b9-32c4-70d9-a66e-540c07abd670", "duration" : null, "expirationBasis" : "FROM_CREATION", "expirationStrategy" : "RESTRICT_ACCESS", "renewalBasis" : "FROM_NOW_IF_EXPIRED", "machineMatchingStrategy" : "MATCH_ANY", "checkOutTtl" : 2592000, "allowNonExpiringFiles" : false, "maxProcesses" : null, "processLeasingStrategy" : "PER_MACHINE", "processHeartbeatDuration" : 600, "metadata" : {"plan":"team"}, "createdAt" : "2026-12-04T20:22:44.062Z", "updatedAt" : "2026-12-04T20:22:44.062Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (7, 'policy.created', '2026-12-04 20:22:44.153+00', NULL, NULL, '{"policy" : {"id" : "01a242b9-36c5-7475-a354-25cdee7320cc", "name" : "Two processes", "maxMachines" : null, "keyPrefix" : "LIC", "requireHeartbeat" : false, "heartbeatDuration" : 600, "heartbeatCullStrategy" : "DEACTIVATE_DEAD", "heartbeatResurrectionWindow" : 0, "maxCores" : null, "overageStrategy" : "NO_OVERAGE", "machineUniquenessStrategy" : "UNIQUE_PER_LICENSE", "productId" : null, "duration" : null, "expirationBasis" : "FROM_CREATION", "expirationStrategy" : "RESTRICT_ACCESS", "renewalBasis" : "FROM_NOW_IF_EXPIRED", "machineMatchingStrategy" : "MATCH_ANY", "checkOutTtl" : 2592000, "allowNonExpiringFiles" : false, "maxProcesses" : 2, "processLeasingStrategy" : "PER_MACHINE", "processHeartbeatDuration" : 600, "metadata" : {}, "createdAt" : "2026-12-04T20:22:44.153Z", "updatedAt" : "2026-12-04T20:22:44.153Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (8, 'policy.created', '2026-12-04 20:22:44.211+00', NULL, NULL, '{"policy" : {"id" : "01a242b9-36f4-7342-89a6-8a950061ba8f", "name" : "Heartbeats", "maxMachines" : null, "keyPrefix" : "LIC", "requireHeartbeat" : true, "heartbeatDuration" : 3600, "heartbeatCullStrategy" : "KEEP_DEAD", "heartbeatResurrectionWindow" : 600, "maxCores" : null, "overageStrategy" : "NO_OVERAGE", "machineUniquenessStrategy" : "UNIQUE_PER_LICENSE", "productId" : null, "duration" : null, "expirationBasis" : "FROM_CREATION", "expirationStrategy" : "RESTRICT_ACCESS", "renewalBasis" : "FROM_NOW_IF_EXPIRED", "machineMatchingStrategy" : "MATCH_ANY", "checkOutTtl" : 2592000, "allowNonExpiringFiles" : false, "maxProcesses" : null, "processLeasingStrategy" : "PER_MACHINE", "processHeartbeatDuration" : 600, "metadata" : {}, "createdAt" : "2026-12-04T20:22:44.211Z", "updatedAt" : "2026-12-04T20:22:44.211Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (9, 'policy.entitlements.attached', '2026-12-04 20:22:44.589+00', NULL, NULL, '{"policy" : {"id" : "01a242b9-3677-7053-816e-8b75f90f3039", "name" : "Two seats", "maxMachines" : 2, "keyPrefix" : "OLD", "requireHeartbeat" : false, "heartbeatDuration" : 600, "heartbeatCullStrategy" : "DEACTIVATE_DEAD", "heartbeatResurrectionWindow" : 0, "maxCores" : 8, "overageStrategy" : "NO_OVERAGE", "machineUniquenessStrategy" : "UNIQUE_PER_LICENSE", "productId" : "01a242b9-32c4-70d9-a66e-540c07abd670", "duration" : null, "expirationBasis" : "FROM_CREATION", "expirationStrategy" : "RESTRICT_ACCESS", "renewalBasis" : "FROM_NOW_IF_EXPIRED", "machineMatchingStrategy" : "MATCH_ANY", "checkOutTtl" : 2592000, "allowNonExpiringFiles" : false, "maxProcesses" : null, "processLeasingStrategy" : "PER_MACHINE", "processHeartbeatDuration" : 600, "metadata" : {"plan":"team"}, "createdAt" : "2026-12-04T20:22:44.062Z", "updatedAt" : "2026-12-04T20:22:44.062Z"}, "entitlements" : ["EXPORT"]}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (10, 'license.created', '2026-12-04 20:22:44.869+00', NULL, '01a242b9-3985-76d7-b6df-28b440e1fba3', '{"license" : {"id" : "01a242b9-3985-76d7-b6df-28b440e1fba3", "policyId" : "01a242b9-3677-7053-816e-8b75f90f3039", "productId" : "01a242b9-32c4-70d9-a66e-540c07abd670", "name" : "Acme", "keyHint" : "OLD-…-QQRY2", "status" : "ACTIVE", "expiresAt" : "2036-01-01T00:00:00.000Z", "suspendedAt" : null, "machineCount" : 0, "coreCount" : 0, "metadata" : {"customer":"acme"}, "createdAt" : "2026-12-04T20:22:44.869Z", "updatedAt" : "2026-12-04T20:22:44.869Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (11, 'license.created', '2026-12-04 20:22:44.92+00', NULL, '01a242b9-39b8-771d-90f9-9d1c8e0f1755', '{"license" : {"id" : "01a242b9-39b8-771d-90f9-9d1c8e0f1755", "policyId" : "01a242b9-36c5-7475-a354-25cdee7320cc", "productId" : null, "name" : "Render farm", "keyHint" : "LIC-…-K04N3", "status" : "ACTIVE", "expiresAt" : null, "suspendedAt" : null, "machineCount" : 0, "coreCount" : 0, "metadata" : {}, "createdAt" : "2026-12-04T20:22:44.920Z", "updatedAt" : "2026-12-04T20:22:44.920Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (12, 'license.created', '2026-12-04 20:22:44.933+00', NULL, '01a242b9-39c5-707b-b156-8af16571db3a', '{"license" : {"id" : "01a242b9-39c5-707b-b156-8af16571db3a", "policyId" : "01a242b9-36f4-7342-89a6-8a950061ba8f", "productId" : null, "name" : "Heartbeats", "keyHint" : "LIC-…-ZGC5B", "status" : "ACTIVE", "expiresAt" : null, "suspendedAt" : null, "machineCount" : 0, "coreCount" : 0, "metadata" : {}, "createdAt" : "2026-12-04T20:22:44.933Z", "updatedAt" : "2026-12-04T20:22:44.933Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (13, 'license.entitlements.attached', '2026-12-04 20:22:45.031+00', NULL, '01a242b9-3985-76d7-b6df-28b440e1fba3', '{"license" : {"id" : "01a242b9-3985-76d7-b6df-28b440e1fba3", "policyId" : "01a242b9-3677-7053-816e-8b75f90f3039", "productId" : "01a242b9-32c4-70d9-a66e-540c07abd670", "name" : "Acme", "keyHint" : "OLD-…-QQRY2", "status" : "ACTIVE", "expiresAt" : "2036-01-01T00:00:00.000Z", "suspendedAt" : null, "machineCount" : 0, "coreCount" : 0, "metadata" : {"customer":"acme"}, "createdAt" : "2026-12-04T20:22:44.869Z", "updatedAt" : "2026-12-04T20:22:44.869Z"}, "entitlements" : ["RENDER"]}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (14, 'machine.activated', '2026-12-04 20:22:45.269+00', '01a242b9-3b1e-711d-9f07-d03b55ee79a8', '01a242b9-3985-76d7-b6df-28b440e1fba3', '{"machine" : {"id" : "01a242b9-3b1e-711d-9f07-d03b55ee79a8", "licenseId" : "01a242b9-3985-76d7-b6df-28b440e1fba3", "productId" : "01a242b9-32c4-70d9-a66e-540c07abd670", "fingerprint" : "acme-machine-1", "name" : "Workstation", "platform" : "linux", "hostname" : null, "cores" : 4, "lastHeartbeatAt" : "2026-12-04T20:22:45.269Z", "createdAt" : "2026-12-04T20:22:45.269Z", "updatedAt" : "2026-12-04T20:22:45.269Z", "deletedAt" : null, "metadata" : {"desk":1}, "heartbeatStatus" : "NOT_REQUIRED", "nextHeartbeatAt" : null, "deactivationReason" : null}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (15, 'machine.activated', '2026-12-04 20:22:45.328+00', '01a242b9-3b5c-7304-b2e1-1e59fa148ecc', '01a242b9-3985-76d7-b6df-28b440e1fba3', '{"machine" : {"id" : "01a242b9-3b5c-7304-b2e1-1e59fa148ecc", "licenseId" : "01a242b9-3985-76d7-b6df-28b440e1fba3", "productId" : "01a242b9-32c4-70d9-a66e-540c07abd670", "fingerprint" : "acme-machine-2", "name" : null, "platform" : null, "hostname" : null, "cores" : 4, "lastHeartbeatAt" : "2026-12-04T20:22:45.328Z", "createdAt" : "2026-12-04T20:22:45.328Z", "updatedAt" : "2026-12-04T20:22:45.328Z", "deletedAt" : null, "metadata" : {}, "heartbeatStatus" : "NOT_REQUIRED", "nextHeartbeatAt" : null, "deactivationReason" : null}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (16, 'machine.activated', '2026-12-04 20:22:45.356+00', '01a242b9-3b70-7259-be0c-7634a5a6aaa9', '01a242b9-39b8-771d-90f9-9d1c8e0f1755', '{"machine" : {"id" : "01a242b9-3b70-7259-be0c-7634a5a6aaa9", "licenseId" : "01a242b9-39b8-771d-90f9-9d1c8e0f1755", "productId" : null, "fingerprint" : "farm-machine-1", "name" : null, "platform" : null, "hostname" : null, "cores" : null, "lastHeartbeatAt" : "2026-12-04T20:22:45.356Z", "createdAt" : "2026-12-04T20:22:45.356Z", "updatedAt" : "2026-12-04T20:22:45.356Z", "deletedAt" : null, "metadata" : {}, "heartbeatStatus" : "NOT_REQUIRED", "nextHeartbeatAt" : null, "deactivationReason" : null}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (17, 'machine.activated', '2026-12-04 20:22:45.367+00', '01a242b9-3b78-728f-9ee9-cadc8ebcc8ca', '01a242b9-39c5-707b-b156-8af16571db3a', '{"machine" : {"id" : "01a242b9-3b78-728f-9ee9-cadc8ebcc8ca", "licenseId" : "01a242b9-39c5-707b-b156-8af16571db3a", "productId" : null, "fingerprint" : "beating-machine-1", "name" : null, "platform" : null, "hostname" : null, "cores" : null, "lastHeartbeatAt" : "2026-12-04T20:22:45.367Z", "createdAt" : "2026-12-04T20:22:45.367Z", "updatedAt" : "2026-12-04T20:22:45.367Z", "deletedAt" : null, "metadata" : {}, "heartbeatStatus" : "ALIVE", "nextHeartbeatAt" : "2026-12-04T21:22:45.367Z", "deactivationReason" : null}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (18, 'process.spawned', '2026-12-04 20:22:45.773+00', '01a242b9-3b70-7259-be0c-7634a5a6aaa9', '01a242b9-39b8-771d-90f9-9d1c8e0f1755', '{"process" : {"id" : "01a242b9-3d11-75b8-84f3-6dadf58d47ae", "machineId" : "01a242b9-3b70-7259-be0c-7634a5a6aaa9", "licenseId" : "01a242b9-39b8-771d-90f9-9d1c8e0f1755", "productId" : null, "pid" : "4242", "metadata" : {}, "lastHeartbeatAt" : "2026-12-04T20:22:45.773Z", "heartbeatStatus" : "ALIVE", "nextHeartbeatAt" : "2026-12-04T20:32:45.773Z", "createdAt" : "2026-12-04T20:22:45.773Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (19, 'license.suspended', '2026-12-04 20:22:45.914+00', NULL, '01a242b9-39b8-771d-90f9-9d1c8e0f1755', '{"license" : {"id" : "01a242b9-39b8-771d-90f9-9d1c8e0f1755", "policyId" : "01a242b9-36c5-7475-a354-25cdee7320cc", "productId" : null, "name" : "Render farm", "keyHint" : "LIC-…-K04N3", "status" : "SUSPENDED", "expiresAt" : null, "suspendedAt" : "2026-12-04T20:22:45.914Z", "machineCount" : 1, "coreCount" : 1, "metadata" : {}, "createdAt" : "2026-12-04T20:22:44.920Z", "updatedAt" : "2026-12-04T20:22:45.914Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (20, 'license.reinstated', '2026-12-04 20:22:46.064+00', NULL, '01a242b9-39b8-771d-90f9-9d1c8e0f1755', '{"license" : {"id" : "01a242b9-39b8-771d-90f9-9d1c8e0f1755", "policyId" : "01a242b9-36c5-7475-a354-25cdee7320cc", "productId" : null, "name" : "Render farm", "keyHint" : "LIC-…-K04N3", "status" : "ACTIVE", "expiresAt" : null, "suspendedAt" : null, "machineCount" : 1, "coreCount" : 1, "metadata" : {}, "createdAt" : "2026-12-04T20:22:44.920Z", "updatedAt" : "2026-12-04T20:22:46.064Z"}}', NULL);
INSERT INTO public.events (id, type, occurred_at, machine_id, license_id, data, relayed_at) OVERRIDING SYSTEM VALUE VALUES (21, 'machine.checked-out', '2026-12-04 20:22:46.333+00', '01a242b9-3b1e-711d-9f07-d03b55ee79a8', '01a242b9-3985-76d7-b6df-28b440e1fba3', '{"machine" : {"id" : "01a242b9-3b1e-711d-9f07-d03b55ee79a8", "licenseId" : "01a242b9-3985-76d7-b6df-28b440e1fba3", "productId" : "01a242b9-32c4-70d9-a66e-540c07abd670", "fingerprint" : "acme-machine-1", "name" : "Workstation", "platform" : "linux", "hostname" : null, "cores" : 4, "lastHeartbeatAt" : "2026-12-04T20:22:45.418Z", "createdAt" : "2026-12-04T20:22:45.269Z", "updatedAt" : "2026-12-04T20:22:45.418Z", "deletedAt" : null, "metadata" : {"desk":1}, "heartbeatStatus" : "NOT_REQUIRED", "nextHeartbeatAt" : null, "deactivationReason" : null}, "file" : {"id":"01a242b9-3f3d-7420-b1c3-ad0a60714025","keyId":"01a242b9-23e0-700e-9630-f2289d264be2","algorithm":"aes-256-gcm+ed25519","issued":"2026-12-04T20:22:46.333Z","expiry":"2027-01-03T20:22:46.333Z","ttl":2592000}}', NULL);


--
-- Data for Name: idempotency_keys; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: license_entitlements; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.license_entitlements (license_id, entitlement_id, created_at) VALUES ('01a242b9-3985-76d7-b6df-28b440e1fba3', '01a242b9-33f6-7639-b899-7d5bc8b2c963', '2026-12-04 20:22:45.031+00');


--
-- Data for Name: licenses; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.licenses (id, policy_id, key_hash, name, metadata, expires_at, suspended_at, created_at, updated_at, key_hint, deleted_at, expiry_announced, machine_count, core_count, overage_at, expiry_pending, process_count) VALUES ('01a242b9-3985-76d7-b6df-28b440e1fba3', '01a242b9-3677-7053-816e-8b75f90f3039', '\x2810ff8c26c780b486df258d44a885281401a74e940d96812f576749bc433648', 'Acme', '{"customer":"acme"}', '2036-01-01 00:00:00+00', NULL, '2026-12-04 20:22:44.869+00', '2026-12-04 20:22:44.869+00', 'OLD-…-QQRY2', NULL, NULL, 1, 4, NULL, false, 0);
INSERT INTO public.licenses (id, policy_id, key_hash, name, metadata, expires_at, suspended_at, created_at, updated_at, key_hint, deleted_at, expiry_announced, machine_count, core_count, overage_at, expiry_pending, process_count) VALUES ('01a242b9-39c5-707b-b156-8af16571db3a', '01a242b9-36f4-7342-89a6-8a950061ba8f', '\xd97edb1a1413ff02fcbd5df3dff045fd28f6a518ac0a5ba309803bd88d391462', 'Heartbeats', '{}', NULL, NULL, '2026-12-04 20:22:44.933+00', '2026-12-04 20:22:44.933+00', 'LIC-…-ZGC5B', NULL, NULL, 0, 0, NULL, false, 0);
INSERT INTO public.licenses (id, policy_id, key_hash, name, metadata, expires_at, suspended_at, created_at, updated_at, key_hint, deleted_at, expiry_announced, machine_count, core_count, overage_at, expiry_pending, process_count) VALUES ('01a242b9-39b8-771d-90f9-9d1c8e0f1755', '01a242b9-36c5-7475-a354-25cdee7320cc', '\x3c16ec6b69d9b87c19fc3860308e121b6a47a638587761b6c3b7e2c36c301daa', 'Render farm', '{}', NULL, NULL, '2026-12-04 20:22:44.92+00', '2026-12-04 20:22:46.064+00', 'LIC-…-K04N3', NULL, NULL, 0, 0, NULL, false, 0);


--
-- Data for Name: machine_count_deltas; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.machine_count_deltas (license_id, delta, core_delta) VALUES ('01a242b9-3985-76d7-b6df-28b440e1fba3', 1, 4);
INSERT INTO public.machine_count_deltas (license_id, delta, core_delta) VALUES ('01a242b9-39b8-771d-90f9-9d1c8e0f1755', 1, 1);
INSERT INTO public.machine_count_deltas (license_id, delta, core_delta) VALUES ('01a242b9-39c5-707b-b156-8af16571db3a', 1, 1);


--
-- Data for Name: machines; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.machines (id, license_id, fingerprint, name, platform, hostname, cores, metadata, last_heartbeat_at, created_at, updated_at, deleted_at, deactivation_reason, dead_at, process_count) VALUES ('01a242b9-3b5c-7304-b2e1-1e59fa148ecc', '01a242b9-3985-76d7-b6df-28b440e1fba3', 'acme-machine-2', NULL, NULL, NULL, 4, '{}', '2026-12-04 20:22:45.328+00', '2026-12-04 20:22:45.328+00', '2026-12-04 20:22:45.328+00', NULL, NULL, NULL, 0);
INSERT INTO public.machines (id, license_id, fingerprint, name, platform, hostname, cores, metadata, last_heartbeat_at, created_at, updated_at, deleted_at, deactivation_reason, dead_at, process_count) VALUES ('01a242b9-3b70-7259-be0c-7634a5a6aaa9', '01a242b9-39b8-771d-90f9-9d1c8e0f1755', 'farm-machine-1', NULL, NULL, NULL, NULL, '{}', '2026-12-04 20:22:45.356+00', '2026-12-04 20:22:45.356+00', '2026-12-04 20:22:45.356+00', NULL, NULL, NULL, 0);
INSERT INTO public.machines (id, license_id, fingerprint, name, platform, hostname, cores, metadata, last_heartbeat_at, created_at, updated_at, deleted_at, deactivation_reason, dead_at, process_count) VALUES ('01a242b9-3b78-728f-9ee9-cadc8ebcc8ca', '01a242b9-39c5-707b-b156-8af16571db3a', 'beating-machine-1', NULL, NULL, NULL, NULL, '{}', '2026-12-04 20:22:45.367+00', '2026-12-04 20:22:45.367+00', '2026-12-04 20:22:45.367+00', NULL, NULL, NULL, 0);
INSERT INTO public.machines (id, license_id, fingerprint, name, platform, hostname, cores, metadata, last_heartbeat_at, created_at, updated_at, deleted_at, deactivation_reason, dead_at, process_count) VALUES ('01a242b9-3b1e-711d-9f07-d03b55ee79a8', '01a242b9-3985-76d7-b6df-28b440e1fba3', 'acme-machine-1', 'Workstation', 'linux', NULL, 4, '{"desk":1}', '2026-12-04 20:22:45.418+00', '2026-12-04 20:22:45.269+00', '2026-12-04 20:22:45.418+00', NULL, NULL, NULL, 0);


--
-- Data for Name: mikro_orm_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (1, 'Migration20261127000000_initial', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (2, 'Migration20261127010000_management', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (3, 'Migration20261127020000_heartbeats', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (4, 'Migration20261129000000_abuse', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (5, 'Migration20261129000100_events', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (6, 'Migration20261129010000_webhooks', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (7, 'Migration20261129020000_hot_paths', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (8, 'Migration20261204000000_products', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (9, 'Migration20261204010000_entitlements', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (10, 'Migration20261204020000_limits', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (11, 'Migration20261204030000_expiry', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (12, 'Migration20261205000000_signing_keys', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (13, 'Migration20261206000000_signing_key_revocation', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (14, 'Migration20261206010000_check_out', '2026-12-04 20:22:38.737807+00');
INSERT INTO public.mikro_orm_migrations (id, name, executed_at) VALUES (15, 'Migration20261206020000_processes', '2026-12-04 20:22:38.737807+00');


--
-- Data for Name: policies; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.policies (id, name, max_machines, key_prefix, metadata, created_at, updated_at, require_heartbeat, heartbeat_duration, heartbeat_cull_strategy, heartbeat_resurrection_window, deleted_at, product_id, machine_matching_strategy, max_cores, overage_strategy, machine_uniqueness_strategy, duration, expiration_basis, expiration_strategy, renewal_basis, check_out_ttl, allow_non_expiring_files, max_processes, process_leasing_strategy, process_heartbeat_duration) VALUES ('01a242b9-3677-7053-816e-8b75f90f3039', 'Two seats', 2, 'OLD', '{"plan":"team"}', '2026-12-04 20:22:44.062+00', '2026-12-04 20:22:44.062+00', false, 600, 'DEACTIVATE_DEAD', 0, NULL, '01a242b9-32c4-70d9-a66e-540c07abd670', 'MATCH_ANY', 8, 'NO_OVERAGE', 'UNIQUE_PER_LICENSE', NULL, 'FROM_CREATION', 'RESTRICT_ACCESS', 'FROM_NOW_IF_EXPIRED', 2592000, false, NULL, 'PER_MACHINE', 600);
INSERT INTO public.policies (id, name, max_machines, key_prefix, metadata, created_at, updated_at, require_heartbeat, heartbeat_duration, heartbeat_cull_strategy, heartbeat_resurrection_window, deleted_at, product_id, machine_matching_strategy, max_cores, overage_strategy, machine_uniqueness_strategy, duration, expiration_basis, expiration_strategy, renewal_basis, check_out_ttl, allow_non_expiring_files, max_processes, process_leasing_strategy, process_heartbeat_duration) VALUES ('01a242b9-36c5-7475-a354-25cdee7320cc', 'Two processes', NULL, 'LIC', '{}', '2026-12-04 20:22:44.153+00', '2026-12-04 20:22:44.153+00', false, 600, 'DEACTIVATE_DEAD', 0, NULL, NULL, 'MATCH_ANY', NULL, 'NO_OVERAGE', 'UNIQUE_PER_LICENSE', NULL, 'FROM_CREATION', 'RESTRICT_ACCESS', 'FROM_NOW_IF_EXPIRED', 2592000, false, 2, 'PER_MACHINE', 600);
INSERT INTO public.policies (id, name, max_machines, key_prefix, metadata, created_at, updated_at, require_heartbeat, heartbeat_duration, heartbeat_cull_strategy, heartbeat_resurrection_window, deleted_at, product_id, machine_matching_strategy, max_cores, overage_strategy, machine_uniqueness_strategy, duration, expiration_basis, expiration_strategy, renewal_basis, check_out_ttl, allow_non_expiring_files, max_processes, process_leasing_strategy, process_heartbeat_duration) VALUES ('01a242b9-36f4-7342-89a6-8a950061ba8f', 'Heartbeats', NULL, 'LIC', '{}', '2026-12-04 20:22:44.211+00', '2026-12-04 20:22:44.211+00', true, 3600, 'KEEP_DEAD', 600, NULL, NULL, 'MATCH_ANY', NULL, 'NO_OVERAGE', 'UNIQUE_PER_LICENSE', NULL, 'FROM_CREATION', 'RESTRICT_ACCESS', 'FROM_NOW_IF_EXPIRED', 2592000, false, NULL, 'PER_MACHINE', 600);


--
-- Data for Name: policy_entitlements; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.policy_entitlements (policy_id, entitlement_id, created_at) VALUES ('01a242b9-3677-7053-816e-8b75f90f3039', '01a242b9-33b9-7005-80ae-f66cd5d93464', '2026-12-04 20:22:44.589+00');


--
-- Data for Name: process_count_deltas; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.process_count_deltas (license_id, machine_id, delta) VALUES ('01a242b9-39b8-771d-90f9-9d1c8e0f1755', '01a242b9-3b70-7259-be0c-7634a5a6aaa9', 1);


--
-- Data for Name: processes; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.processes (id, machine_id, license_id, pid, metadata, last_heartbeat_at, created_at) VALUES ('01a242b9-3d11-75b8-84f3-6dadf58d47ae', '01a242b9-3b70-7259-be0c-7634a5a6aaa9', '01a242b9-39b8-771d-90f9-9d1c8e0f1755', '4242', '{}', '2026-12-04 20:22:45.773+00', '2026-12-04 20:22:45.773+00');


--
-- Data for Name: products; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.products (id, name, code, url, metadata, created_at, updated_at, deleted_at) VALUES ('01a242b9-32c4-70d9-a66e-540c07abd670', 'Studio', 'STUDIO', NULL, '{"tier":"pro"}', '2026-12-04 20:22:43.139+00', '2026-12-04 20:22:43.139+00', NULL);


--
-- Data for Name: rate_limit_auth_failures; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: signing_keys; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.signing_keys (id, algorithm, public_key, private_key_encrypted, status, created_at, activated_at, retired_at, revoked_at) VALUES ('01a242b9-23e0-700e-9630-f2289d264be2', 'ed25519', '\xe36913f74d1a49b5f98b2ca3da99217865c6d0187bf3b6895e58be3db69c8462', '\xd49f1417ca2ec52bd8124dec66e5e8c4c374f048e42f6abe0fbe2bc2c6c8c75ad71ec42944da5169bed439af17a4c6728bd5bfa9e0073f22137f4ec47617a797d79971dbb6f938a9a7a29188', 'active', '2026-12-04 20:22:39.328+00', '2026-12-04 20:22:39.328+00', NULL, NULL);


--
-- Data for Name: webhook_attempts; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: webhook_endpoints; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.webhook_endpoints (id, url, description, event_types, enabled, disabled_reason, secret, previous_secret, previous_secret_expires_at, consecutive_failures, created_at, updated_at, deleted_at) VALUES ('01a242b9-3e7c-707b-a07d-4fa494328421', 'http://127.0.0.1:9/licentric', 'billing', '{machine.activated,license.suspended}', true, NULL, 'whsec_xfCrHyzg/+GkJIwz//gGsJMn9mAnBh9iOTfuYIZaVBk=', NULL, NULL, 0, '2026-12-04 20:22:46.14+00', '2026-12-04 20:22:46.14+00', NULL);


--
-- Data for Name: webhook_messages; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Name: events_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.events_id_seq', 21, true);


--
-- Name: mikro_orm_migrations_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.mikro_orm_migrations_id_seq', 15, true);


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);


--
-- Name: api_keys api_keys_token_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_token_hash_key UNIQUE (token_hash);


--
-- Name: entitlements entitlements_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.entitlements
    ADD CONSTRAINT entitlements_pkey PRIMARY KEY (id);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);


--
-- Name: idempotency_keys idempotency_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key);


--
-- Name: license_entitlements license_entitlements_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.license_entitlements
    ADD CONSTRAINT license_entitlements_pkey PRIMARY KEY (license_id, entitlement_id);


--
-- Name: licenses licenses_key_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.licenses
    ADD CONSTRAINT licenses_key_hash_key UNIQUE (key_hash);


--
-- Name: licenses licenses_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.licenses
    ADD CONSTRAINT licenses_pkey PRIMARY KEY (id);


--
-- Name: machines machines_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.machines
    ADD CONSTRAINT machines_pkey PRIMARY KEY (id);


--
-- Name: mikro_orm_migrations mikro_orm_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mikro_orm_migrations
    ADD CONSTRAINT mikro_orm_migrations_pkey PRIMARY KEY (id);


--
-- Name: policies policies_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_pkey PRIMARY KEY (id);


--
-- Name: policy_entitlements policy_entitlements_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policy_entitlements
    ADD CONSTRAINT policy_entitlements_pkey PRIMARY KEY (policy_id, entitlement_id);


--
-- Name: processes processes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.processes
    ADD CONSTRAINT processes_pkey PRIMARY KEY (id);


--
-- Name: products products_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.products
    ADD CONSTRAINT products_pkey PRIMARY KEY (id);


--
-- Name: rate_limit_auth_failures rate_limit_auth_failures_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rate_limit_auth_failures
    ADD CONSTRAINT rate_limit_auth_failures_pkey PRIMARY KEY (key);


--
-- Name: signing_keys signing_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.signing_keys
    ADD CONSTRAINT signing_keys_pkey PRIMARY KEY (id);


--
-- Name: webhook_attempts webhook_attempts_message_id_attempt_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_message_id_attempt_key UNIQUE (message_id, attempt);


--
-- Name: webhook_attempts webhook_attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_pkey PRIMARY KEY (id);


--
-- Name: webhook_endpoints webhook_endpoints_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id);


--
-- Name: webhook_messages webhook_messages_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_messages
    ADD CONSTRAINT webhook_messages_pkey PRIMARY KEY (id);


--
-- Name: entitlements_code_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX entitlements_code_key ON public.entitlements USING btree (code);


--
-- Name: events_license_id_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_license_id_id_index ON public.events USING btree (license_id, id);


--
-- Name: events_machine_id_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_machine_id_id_index ON public.events USING btree (machine_id, id);


--
-- Name: events_occurred_at_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_occurred_at_index ON public.events USING btree (occurred_at);


--
-- Name: events_type_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_type_id_index ON public.events USING btree (type, id);


--
-- Name: events_unrelayed_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_unrelayed_index ON public.events USING btree (id) WHERE (relayed_at IS NULL);


--
-- Name: idempotency_keys_created_at_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idempotency_keys_created_at_index ON public.idempotency_keys USING btree (created_at);


--
-- Name: license_entitlements_entitlement_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX license_entitlements_entitlement_idx ON public.license_entitlements USING btree (entitlement_id);


--
-- Name: licenses_expiry_unannounced_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX licenses_expiry_unannounced_index ON public.licenses USING btree (expires_at) WHERE ((deleted_at IS NULL) AND (expires_at IS NOT NULL) AND (expires_at IS DISTINCT FROM expiry_announced));


--
-- Name: licenses_live_policy_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX licenses_live_policy_id_index ON public.licenses USING btree (policy_id, id) WHERE (deleted_at IS NULL);


--
-- Name: machine_count_deltas_license_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX machine_count_deltas_license_id_index ON public.machine_count_deltas USING btree (license_id);


--
-- Name: machines_active_fingerprint_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX machines_active_fingerprint_index ON public.machines USING btree (fingerprint) WHERE (deleted_at IS NULL);


--
-- Name: machines_active_fingerprint_unique; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX machines_active_fingerprint_unique ON public.machines USING btree (license_id, fingerprint) WHERE (deleted_at IS NULL);


--
-- Name: machines_license_id_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX machines_license_id_id_index ON public.machines USING btree (license_id, id);


--
-- Name: policies_product_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX policies_product_id_index ON public.policies USING btree (product_id) WHERE (deleted_at IS NULL);


--
-- Name: policy_entitlements_entitlement_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX policy_entitlements_entitlement_idx ON public.policy_entitlements USING btree (entitlement_id);


--
-- Name: process_count_deltas_license_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX process_count_deltas_license_id_index ON public.process_count_deltas USING btree (license_id);


--
-- Name: process_count_deltas_machine_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX process_count_deltas_machine_id_index ON public.process_count_deltas USING btree (machine_id);


--
-- Name: processes_license_heartbeat_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX processes_license_heartbeat_index ON public.processes USING btree (license_id, last_heartbeat_at);


--
-- Name: processes_machine_heartbeat_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX processes_machine_heartbeat_index ON public.processes USING btree (machine_id, last_heartbeat_at);


--
-- Name: products_code_unique; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX products_code_unique ON public.products USING btree (code) WHERE (deleted_at IS NULL);


--
-- Name: signing_keys_one_active; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX signing_keys_one_active ON public.signing_keys USING btree ((true)) WHERE (status = 'active'::text);


--
-- Name: webhook_attempts_endpoint_id_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_attempts_endpoint_id_id_index ON public.webhook_attempts USING btree (endpoint_id, id);


--
-- Name: webhook_messages_endpoint_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_messages_endpoint_id_index ON public.webhook_messages USING btree (endpoint_id);


--
-- Name: webhook_messages_wanted_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_messages_wanted_index ON public.webhook_messages USING btree (wanted_at) WHERE (wanted_at IS NOT NULL);


--
-- Name: api_keys api_keys_auth_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER api_keys_auth_changed AFTER UPDATE ON public.api_keys FOR EACH ROW WHEN ((NOT (old.last_used_at IS DISTINCT FROM new.last_used_at))) EXECUTE FUNCTION public.licentric_notify_auth();


--
-- Name: api_keys api_keys_auth_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER api_keys_auth_deleted AFTER DELETE ON public.api_keys FOR EACH STATEMENT EXECUTE FUNCTION public.licentric_notify_auth();


--
-- Name: licenses licenses_auth_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER licenses_auth_changed AFTER UPDATE ON public.licenses FOR EACH ROW WHEN (((((((((((old.policy_id IS DISTINCT FROM new.policy_id) OR (old.key_hash IS DISTINCT FROM new.key_hash)) OR (old.key_hint IS DISTINCT FROM new.key_hint)) OR (old.name IS DISTINCT FROM new.name)) OR ((old.metadata)::text IS DISTINCT FROM (new.metadata)::text)) OR (old.expires_at IS DISTINCT FROM new.expires_at)) OR (old.suspended_at IS DISTINCT FROM new.suspended_at)) OR (old.created_at IS DISTINCT FROM new.created_at)) OR (old.updated_at IS DISTINCT FROM new.updated_at)) OR (old.deleted_at IS DISTINCT FROM new.deleted_at))) EXECUTE FUNCTION public.licentric_notify_auth();


--
-- Name: licenses licenses_auth_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER licenses_auth_deleted AFTER DELETE ON public.licenses FOR EACH STATEMENT EXECUTE FUNCTION public.licentric_notify_auth();


--
-- Name: machines machines_count_insert_delete; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER machines_count_insert_delete AFTER INSERT OR DELETE ON public.machines FOR EACH ROW EXECUTE FUNCTION public.licentric_count_machines();


--
-- Name: machines machines_count_update; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER machines_count_update AFTER UPDATE OF deleted_at, license_id ON public.machines FOR EACH ROW WHEN ((((old.deleted_at IS DISTINCT FROM new.deleted_at) OR (old.license_id IS DISTINCT FROM new.license_id)) AND (new.deactivation_reason IS DISTINCT FROM 'HEARTBEAT_DEAD'::text))) EXECUTE FUNCTION public.licentric_count_machines();


--
-- Name: processes processes_count; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER processes_count AFTER INSERT OR DELETE ON public.processes FOR EACH ROW EXECUTE FUNCTION public.licentric_count_processes();


--
-- Name: api_keys api_keys_product_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id);


--
-- Name: events events_license_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_license_id_fkey FOREIGN KEY (license_id) REFERENCES public.licenses(id);


--
-- Name: events events_machine_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_machine_id_fkey FOREIGN KEY (machine_id) REFERENCES public.machines(id);


--
-- Name: license_entitlements license_entitlements_entitlement_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.license_entitlements
    ADD CONSTRAINT license_entitlements_entitlement_id_fkey FOREIGN KEY (entitlement_id) REFERENCES public.entitlements(id) ON DELETE CASCADE;


--
-- Name: license_entitlements license_entitlements_license_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.license_entitlements
    ADD CONSTRAINT license_entitlements_license_id_fkey FOREIGN KEY (license_id) REFERENCES public.licenses(id);


--
-- Name: licenses licenses_policy_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.licenses
    ADD CONSTRAINT licenses_policy_id_fkey FOREIGN KEY (policy_id) REFERENCES public.policies(id);


--
-- Name: machine_count_deltas machine_count_deltas_license_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.machine_count_deltas
    ADD CONSTRAINT machine_count_deltas_license_id_fkey FOREIGN KEY (license_id) REFERENCES public.licenses(id);


--
-- Name: machines machines_license_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.machines
    ADD CONSTRAINT machines_license_id_fkey FOREIGN KEY (license_id) REFERENCES public.licenses(id);


--
-- Name: policies policies_product_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policies
    ADD CONSTRAINT policies_product_id_fkey FOREIGN KEY (product_id) REFERENCES public.products(id);


--
-- Name: policy_entitlements policy_entitlements_entitlement_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policy_entitlements
    ADD CONSTRAINT policy_entitlements_entitlement_id_fkey FOREIGN KEY (entitlement_id) REFERENCES public.entitlements(id) ON DELETE CASCADE;


--
-- Name: policy_entitlements policy_entitlements_policy_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.policy_entitlements
    ADD CONSTRAINT policy_entitlements_policy_id_fkey FOREIGN KEY (policy_id) REFERENCES public.policies(id);


--
-- Name: process_count_deltas process_count_deltas_license_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.process_count_deltas
    ADD CONSTRAINT process_count_deltas_license_id_fkey FOREIGN KEY (license_id) REFERENCES public.licenses(id);


--
-- Name: process_count_deltas process_count_deltas_machine_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.process_count_deltas
    ADD CONSTRAINT process_count_deltas_machine_id_fkey FOREIGN KEY (machine_id) REFERENCES public.machines(id);


--
-- Name: processes processes_license_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.processes
    ADD CONSTRAINT processes_license_id_fkey FOREIGN KEY (license_id) REFERENCES public.licenses(id);


--
-- Name: processes processes_machine_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.processes
    ADD CONSTRAINT processes_machine_id_fkey FOREIGN KEY (machine_id) REFERENCES public.machines(id);


--
-- Name: webhook_attempts webhook_attempts_endpoint_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES public.webhook_endpoints(id);


--
-- Name: webhook_attempts webhook_attempts_message_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_message_id_fkey FOREIGN KEY (message_id) REFERENCES public.webhook_messages(id);


--
-- Name: webhook_messages webhook_messages_endpoint_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_messages
    ADD CONSTRAINT webhook_messages_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES public.webhook_endpoints(id);


--
-- Name: webhook_messages webhook_messages_event_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_messages
    ADD CONSTRAINT webhook_messages_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.events(id);


--
-- PostgreSQL database dump complete
--

\unrestrict wTN4VGFZNFAf2bpH3c4OIOp9MZ1zafWHNl11weGgDIOf4qrG7sbsqxUb8QsgCru

