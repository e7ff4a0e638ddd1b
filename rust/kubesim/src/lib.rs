//! kubesim: a Kubernetes API emulator that speaks the real HTTP API, used by sparkube's tests,
//! benchmarks and local demo where no cluster can run.
