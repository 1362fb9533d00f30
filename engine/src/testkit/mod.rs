//! Port contract suite (feature `testkit`): one set of checks per port,
//! run by every adapter's tests against a fresh instance.
