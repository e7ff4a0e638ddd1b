"""What a release ships: one version everywhere, `make dist`'s checks, the CI workflow file."""
