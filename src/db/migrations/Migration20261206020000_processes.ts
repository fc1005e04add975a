import { Migration } from '@mikro-orm/migrations';

/**
 * Processes (issue 20): concurrent seats, each a lease held by a running copy of the software on
 * an activated machine (docs/licensing-models.md, "Processes").
 *
 * - `processes`: one row per live lease. Releasing deletes the row (the `process.released`
 *   event keeps the history), so "each released once" is a delete that returns the row: two
 *   workers, or a worker and a spawn reaping an expired lease, can never both release one.
 * - The counts of a license's and a machine's processes, O(1) at any number of them, kept as the
 *   machine count is (src/machines/machine-count.ts, the hot-paths migration): a trigger writes a
 *   row of `process_count_deltas` in the transaction of every spawn and release, inserts only,
 *   so releases, heartbeats and culls never wait for the license row a spawn holds; a spawn, which
 *   holds that row anyway, folds the license's deltas into `licenses.process_count` and
 *   `machines.process_count` (src/machines/process-count.ts). The counts include leases that
 *   expired but are not yet released; what validation shows subtracts those through the
 *   `(license_id, last_heartbeat_at)` and `(machine_id, last_heartbeat_at)` indexes, reading only
 *   the expired rows, which the worker keeps few.
 * - Policy settings default to what the server did before: no process limit.
 */
export class Migration20261206020000_processes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table policies
        add column max_processes integer null check (max_processes > 0),
        add column process_leasing_strategy text not null default 'PER_MACHINE'
          check (process_leasing_strategy in ('PER_MACHINE', 'PER_LICENSE')),
        add column process_heartbeat_duration integer not null default 600
          check (process_heartbeat_duration between 60 and 2592000)`);
    this.addSql('alter table licenses add column process_count integer not null default 0');
    this.addSql('alter table machines add column process_count integer not null default 0');

    this.addSql(`
      create table processes (
        id uuid primary key,
        machine_id uuid not null references machines (id),
        license_id uuid not null references licenses (id),
        pid text null,
        metadata json not null default '{}',
        last_heartbeat_at timestamptz(3) not null,
        created_at timestamptz(3) not null
      )`);
    this.addSql('create index processes_license_heartbeat_index on processes (license_id, last_heartbeat_at)');
    this.addSql('create index processes_machine_heartbeat_index on processes (machine_id, last_heartbeat_at)');

    this.addSql(`
      create table process_count_deltas (
        license_id uuid not null references licenses (id),
        machine_id uuid not null references machines (id),
        delta integer not null
      )`);
    this.addSql('create index process_count_deltas_license_id_index on process_count_deltas (license_id)');
    this.addSql('create index process_count_deltas_machine_id_index on process_count_deltas (machine_id)');

    this.addSql(`
      create function licentric_count_processes() returns trigger language plpgsql as $$
      begin
        if tg_op = 'DELETE' then
          insert into process_count_deltas (license_id, machine_id, delta) values (old.license_id, old.machine_id, -1);
        else
          insert into process_count_deltas (license_id, machine_id, delta) values (new.license_id, new.machine_id, 1);
        end if;
        return null;
      end $$`);
    // Heartbeats update rows without changing any count: the trigger is on insert and delete only.
    this.addSql(`
      create trigger processes_count after insert or delete on processes
        for each row execute function licentric_count_processes()`);
  }
}
