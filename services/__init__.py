"""Everything that is not a stream agent: domain logic, adapters, API, CLI."""
