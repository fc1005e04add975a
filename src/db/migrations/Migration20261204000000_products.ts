import { Migration } from '@mikro-orm/migrations';

/**
 * Products, what a vendor sells. A product's code is unique among live products (the partial
 * unique index decides races between creations; a deleted product's code is free again). A
 * policy belongs to at most one product, and an API key may be limited to one: both columns
 * are null on every existing row, which keeps meaning "no product" and "all products".
 */
export class Migration20261204000000_products extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table products (
        id uuid primary key,
        name text not null,
        code text not null,
        url text null,
        metadata json not null,
        created_at timestamptz(3) not null,
        updated_at timestamptz(3) not null,
        deleted_at timestamptz(3) null
      )`);
    this.addSql('create unique index products_code_unique on products (code) where deleted_at is null');
    this.addSql('alter table policies add column product_id uuid null references products (id)');
    this.addSql('create index policies_product_id_index on policies (product_id) where deleted_at is null');
    this.addSql('alter table api_keys add column product_id uuid null references products (id)');
  }
}
