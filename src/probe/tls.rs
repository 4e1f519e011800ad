//! TLS client configuration shared by the `http` and `tcp` probes (placeholder: being written).
