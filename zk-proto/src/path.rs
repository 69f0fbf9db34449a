//! ZooKeeper path validation (PROTOCOL.md §8.1) and chroot helpers.
//!
//! ```
//! use zk_proto::path::{validate_path, PathError};
//!
//! assert!(validate_path("/app/config").is_ok());
//! assert_eq!(validate_path("/app/"), Err(PathError::TrailingSlash));
//! assert_eq!(validate_path("/a/../b"), Err(PathError::RelativeSegment));
//! ```

/// Why a path is not a valid ZooKeeper path.
///
/// ```
/// use zk_proto::path::{validate_path, PathError};
///
/// assert_eq!(validate_path(""), Err(PathError::Empty));
/// assert_eq!(validate_path("app"), Err(PathError::NotAbsolute));
/// assert_eq!(validate_path("/a//b"), Err(PathError::EmptySegment));
/// assert_eq!(validate_path("/a/\0"), Err(PathError::InvalidCharacter(0)));
/// assert_eq!(PathError::TrailingSlash.to_string(), "path must not end with '/'");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty.
    #[error("path must not be empty")]
    Empty,
    /// The path does not start with `/`.
    #[error("path must start with '/'")]
    NotAbsolute,
    /// The path ends with `/` (only `/` itself may).
    #[error("path must not end with '/'")]
    TrailingSlash,
    /// The path contains `//`.
    #[error("path must not contain an empty segment ('//')")]
    EmptySegment,
    /// The path has a `.` or `..` segment.
    #[error("path must not contain '.' or '..' segments")]
    RelativeSegment,
    /// The path contains NUL, a control character, a surrogate or private-use character, or one
    /// of U+FFF0..=U+FFFF.
    #[error("path contains the invalid character U+{0:04X}")]
    InvalidCharacter(u32),
}

/// Checks `path` the way ZooKeeper's clients and server writes do.
///
/// Characters outside the Basic Multilingual Plane are rejected too: Java sees them as surrogate
/// pairs, which its rule forbids.
///
/// ```
/// assert!(zk_proto::path::validate_path("/t/été").is_ok());
/// assert!(zk_proto::path::validate_path("/t/\u{1}").is_err());
/// ```
pub fn validate_path(path: &str) -> Result<(), PathError> {
    validate(path, false)
}

/// Checks the path of a sequential create, which may end with `/` because the server appends the
/// sequence number to it.
///
/// ```
/// assert!(zk_proto::path::validate_sequential_path("/queue/").is_ok());
/// assert!(zk_proto::path::validate_path("/queue/").is_err());
/// ```
pub fn validate_sequential_path(path: &str) -> Result<(), PathError> {
    validate(path, true)
}

fn validate(path: &str, sequential: bool) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if path == "/" {
        return Ok(());
    }
    // A sequential path is checked as it will be once the suffix is there.
    let body = if sequential && path.ends_with('/') {
        &path[..path.len() - 1]
    } else {
        path
    };
    if body.ends_with('/') || (body.len() < path.len() && body.is_empty()) {
        return Err(PathError::TrailingSlash);
    }
    for c in body.chars() {
        if is_forbidden(c) {
            return Err(PathError::InvalidCharacter(c as u32));
        }
    }
    // Java validates a sequential path as `path + "1"`: unless the path ends with `/`, the suffix
    // lands on the last segment, so a last segment of `.` or `..` is a valid name prefix there.
    let suffixed_last = sequential && body.len() == path.len();
    let mut segments = body[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let is_last = segments.peek().is_none();
        match segment {
            "" => return Err(PathError::EmptySegment),
            "." | ".." if !(suffixed_last && is_last) => return Err(PathError::RelativeSegment),
            _ => {}
        }
    }
    Ok(())
}

fn is_forbidden(c: char) -> bool {
    matches!(c as u32,
        0x0000..=0x001F | 0x007F..=0x009F | 0xD800..=0xF8FF | 0xFFF0..=0xFFFF | 0x10000..)
}

/// Parses the chroot part of a connect string (`/app` in `host:2181/app`): `None` for no chroot
/// or `/`.
///
/// ```
/// use zk_proto::path::parse_chroot;
///
/// assert_eq!(parse_chroot("/app").unwrap().as_deref(), Some("/app"));
/// assert_eq!(parse_chroot("/").unwrap(), None);
/// assert!(parse_chroot("/app/").is_err());
/// ```
pub fn parse_chroot(chroot: &str) -> Result<Option<String>, PathError> {
    if chroot.is_empty() || chroot == "/" {
        return Ok(None);
    }
    validate_path(chroot)?;
    Ok(Some(chroot.to_owned()))
}

/// The server path for a client path under `chroot`.
///
/// ```
/// use zk_proto::path::join_chroot;
///
/// assert_eq!(join_chroot(Some("/app"), "/a"), "/app/a");
/// assert_eq!(join_chroot(Some("/app"), "/"), "/app");
/// assert_eq!(join_chroot(None, "/a"), "/a");
/// ```
pub fn join_chroot(chroot: Option<&str>, path: &str) -> String {
    match chroot {
        None => path.to_owned(),
        Some(root) if path == "/" => root.to_owned(),
        Some(root) => format!("{root}{path}"),
    }
}

/// The client path for a server path under `chroot`, or `None` when the server path is outside it.
///
/// ```
/// use zk_proto::path::strip_chroot;
///
/// assert_eq!(strip_chroot(Some("/app"), "/app/a"), Some("/a"));
/// assert_eq!(strip_chroot(Some("/app"), "/app"), Some("/"));
/// assert_eq!(strip_chroot(Some("/app"), "/apple"), None);
/// assert_eq!(strip_chroot(None, "/x"), Some("/x"));
/// ```
pub fn strip_chroot<'a>(chroot: Option<&str>, server_path: &'a str) -> Option<&'a str> {
    let Some(root) = chroot else {
        return Some(server_path);
    };
    let rest = server_path.strip_prefix(root)?;
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

/// The parent of a valid, non-root path.
///
/// ```
/// assert_eq!(zk_proto::path::parent("/a/b"), Some("/a"));
/// assert_eq!(zk_proto::path::parent("/a"), Some("/"));
/// assert_eq!(zk_proto::path::parent("/"), None);
/// ```
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    let idx = path.rfind('/')?;
    Some(if idx == 0 { "/" } else { &path[..idx] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_of_section_8_1() {
        let ok = [
            "/", "/a", "/a/b", "/a.b", "/..a", "/a/...", "/t/été", "/ -_",
        ];
        for p in ok {
            assert_eq!(validate_path(p), Ok(()), "{p}");
        }
        let bad = [
            ("", PathError::Empty),
            ("a", PathError::NotAbsolute),
            ("/a/", PathError::TrailingSlash),
            ("//a", PathError::EmptySegment),
            ("/a//b", PathError::EmptySegment),
            ("/.", PathError::RelativeSegment),
            ("/a/./b", PathError::RelativeSegment),
            ("/a/..", PathError::RelativeSegment),
            ("/a\0", PathError::InvalidCharacter(0)),
            ("/a\u{1f}", PathError::InvalidCharacter(0x1f)),
            ("/a\u{7f}", PathError::InvalidCharacter(0x7f)),
            ("/a\u{9f}", PathError::InvalidCharacter(0x9f)),
            ("/a\u{e000}", PathError::InvalidCharacter(0xe000)),
            ("/a\u{fff0}", PathError::InvalidCharacter(0xfff0)),
            ("/a\u{1F600}", PathError::InvalidCharacter(0x1F600)),
        ];
        for (p, e) in bad {
            assert_eq!(validate_path(p), Err(e), "{p:?}");
        }
    }

    #[test]
    fn sequential_paths_may_end_with_a_slash() {
        assert_eq!(validate_sequential_path("/t/"), Ok(()));
        assert_eq!(validate_sequential_path("/t/x-"), Ok(()));
        assert_eq!(
            validate_sequential_path("/t//"),
            Err(PathError::TrailingSlash)
        );
        assert_eq!(
            validate_sequential_path("/./"),
            Err(PathError::RelativeSegment)
        );
    }
}
