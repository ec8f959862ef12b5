"""Deploying the promoted digest: targets (Docker Engine API, any command), health checks, auto-rollback."""
