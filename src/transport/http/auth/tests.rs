//! The tokens file: loading, refusing what is ambiguous, checking headers, reloading.

use super::*;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn file(name: &str, text: &str) -> (Dir, PathBuf) {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).unwrap();
    let dir =
        std::env::temp_dir().join(format!("sentinel-tokens-{name}-{}", u64::from_ne_bytes(r)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokens.yaml");
    std::fs::write(&path, text).unwrap();
    (Dir(dir), path)
}

fn two_tenants() -> String {
    format!(
        "tokens:\n  - sha256: {}\n    tenant: team-a\n  - sha256: {}\n    tenant: team-b\n    profile: readonly\n",
        hash_token("alpha-token"),
        hash_token("beta-token").to_uppercase()
    )
}

#[test]
fn the_hash_is_what_sha256sum_prints() {
    // printf %s test | sha256sum
    assert_eq!(
        hash_token("test"),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
}

#[test]
fn each_token_maps_to_its_tenant_and_profile() {
    let (_d, path) = file("map", &two_tenants());
    let t = Tokens::load(&path).unwrap();
    let a = t.check(Some("Bearer alpha-token")).unwrap();
    assert_eq!((a.name.as_str(), a.profile.as_str()), ("team-a", "team-a"));
    let b = t.check(Some("bearer   beta-token")).unwrap();
    assert_eq!(
        (b.name.as_str(), b.profile.as_str()),
        ("team-b", "readonly")
    );
}

#[test]
fn missing_malformed_and_unknown_tokens_are_told_apart() {
    let (_d, path) = file("fail", &two_tenants());
    let t = Tokens::load(&path).unwrap();
    assert_eq!(t.check(None), Err(AuthFailure::Missing));
    for bad in [
        "",
        "Bearer",
        "Bearer ",
        "Basic YWxwaGE6",
        "alpha-token",
        "Bearer a b",
    ] {
        assert_eq!(t.check(Some(bad)), Err(AuthFailure::Malformed), "{bad:?}");
    }
    for wrong in ["Bearer alpha-tokeN", "Bearer alpha-token2", "Bearer beta"] {
        assert_eq!(t.check(Some(wrong)), Err(AuthFailure::Unknown), "{wrong:?}");
    }
    // The hash itself is not a token.
    let hash = format!("Bearer {}", hash_token("alpha-token"));
    assert_eq!(t.check(Some(&hash)), Err(AuthFailure::Unknown));
    assert!(AuthFailure::Unknown.challenge().contains("invalid_token"));
}

#[test]
fn a_file_that_is_wrong_is_refused_with_its_name_and_entry() {
    let cases = [
        (
            "tokens:\n  - sha256: abc\n    tenant: a\n",
            "entry 1: sha256 must be 64",
        ),
        (
            "tokens:\n  - token: secret\n    tenant: a\n",
            "unknown field",
        ),
        (
            &format!(
                "tokens:\n  - sha256: {}\n    tenant: ' '\n",
                hash_token("x")
            ),
            "entry 1: tenant is empty",
        ),
        (
            &format!(
                "tokens:\n  - sha256: {h}\n    tenant: a\n  - sha256: {h}\n    tenant: b\n",
                h = hash_token("x")
            ),
            "entry 2: the same token is listed twice",
        ),
        (
            &format!("tokens:\n  - sha256: {}\n    tenant: a\n", "g".repeat(64)),
            "entry 1: sha256 must be 64",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let (_d, path) = file(&format!("bad{i}"), text);
        let e = Tokens::load(&path).err().expect(want).0;
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains(want), "{e} (wanted {want})");
    }
    let missing = Tokens::load(Path::new("/nonexistent/sentinel/tokens.yaml"));
    assert!(missing
        .err()
        .unwrap()
        .0
        .contains("/nonexistent/sentinel/tokens.yaml"));
}

#[test]
fn a_changed_file_is_reloaded_and_a_broken_one_keeps_the_tokens_in_force() {
    let (_d, path) = file("reload", &two_tenants());
    let t = Tokens::load(&path).unwrap();
    assert_eq!(t.reload_if_changed(), Ok(false));
    std::fs::write(
        &path,
        format!(
            "tokens:\n  - sha256: {}\n    tenant: team-c\n",
            hash_token("gamma-token-longer")
        ),
    )
    .unwrap();
    assert_eq!(t.reload_if_changed(), Ok(true));
    assert_eq!(
        t.check(Some("Bearer alpha-token")),
        Err(AuthFailure::Unknown)
    );
    assert_eq!(
        t.check(Some("Bearer gamma-token-longer")).unwrap().name,
        "team-c"
    );
    std::fs::write(&path, "tokens: [ {").unwrap();
    assert!(t.reload_if_changed().is_err());
    assert_eq!(
        t.check(Some("Bearer gamma-token-longer")).unwrap().name,
        "team-c"
    );
}
