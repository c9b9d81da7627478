"""The SQL system of record: tables, migrations, repositories."""
