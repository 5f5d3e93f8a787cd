//! Safe by default: with no `[auth]`, every caller may use the whole admin
//! API, which suits a weir on a laptop and nothing else. weir therefore
//! refuses to listen beyond loopback without `[auth]` unless the operator
//! says, with `--allow-unauthenticated-remote`, that something in front of it
//! (a proxy, a private network) decides who may call.

use std::net::SocketAddr;

use super::Auth;

/// The flag that allows listening beyond loopback without `[auth]`.
pub const ALLOW_FLAG: &str = "--allow-unauthenticated-remote";

/// Why weir must not listen on `listen` with `auth`, if it must not.
pub fn unauthenticated_remote(listen: SocketAddr, auth: &Auth, allowed: bool) -> Option<String> {
    (!listen.ip().is_loopback() && !auth.enabled && !allowed).then(|| {
        format!(
            "refusing to listen on {listen} without [auth]: anyone who can reach that address could use the admin API (replay, pause, state, metrics). Add tokens under [auth] in weir.toml (`weir token new`), listen on 127.0.0.1, or pass {ALLOW_FLAG} if a proxy in front of weir authenticates callers"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(listen: &str, enabled: bool, allowed: bool) -> Option<String> {
        let mut auth = Auth::default();
        auth.enabled = enabled;
        unauthenticated_remote(listen.parse().expect("address"), &auth, allowed)
    }

    #[test]
    fn only_an_open_weir_beyond_loopback_without_the_flag_is_refused() {
        let refused = judged("0.0.0.0:8080", false, false).expect("refused");
        assert!(
            refused.contains(ALLOW_FLAG) && refused.contains("[auth]"),
            "{refused}"
        );
        assert!(judged("[::]:8080", false, false).is_some());
        assert!(judged("192.0.2.7:8080", false, false).is_some());
        assert!(judged("127.0.0.1:8080", false, false).is_none());
        assert!(judged("[::1]:8080", false, false).is_none());
        assert!(judged("0.0.0.0:8080", true, false).is_none(), "auth on");
        assert!(judged("0.0.0.0:8080", false, true).is_none(), "the flag");
    }
}
