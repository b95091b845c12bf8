"""Gold sets, metrics and the `cdmo eval` command. Quality is measured here, not asserted in tests."""
