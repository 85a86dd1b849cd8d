"""Storage: schema, engine, migrations, snapshot writes and queries."""
