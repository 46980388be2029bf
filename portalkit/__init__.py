"""What every portal service does the same way: config, gRPC bootstrap, Mongo, events, telemetry, errors."""
