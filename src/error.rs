//! One error type for the whole runtime.
//!
//! Engines parse runc's words, so every message is lowercase, carries its
//! cause, and, when a config field is at fault, that field's JSON pointer.

use std::fmt;

/// A runtime error: what failed, why, and which config field caused it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Error {
    /// The message as the user sees it (already includes the causes).
    pub msg: String,
    /// JSON pointer of the offending config field, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error {
            msg: msg.into(),
            pointer: None,
        }
    }

    /// An error attributed to a config field.
    pub fn field(pointer: impl Into<String>, msg: impl Into<String>) -> Self {
        Error {
            msg: msg.into(),
            pointer: Some(pointer.into()),
        }
    }

    /// `what: errno text` in Go's lowercase wording ("no such file or directory").
    pub fn sys(what: impl fmt::Display, errno: nix::errno::Errno) -> Self {
        Error::new(format!("{what}: {}", errno_text(errno)))
    }

    /// Prefixes the message with context, keeping the pointer.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.msg = format!("{what}: {}", self.msg);
        self
    }

    /// Attributes the error to a field unless it already names one, or it
    /// is the runtime's own lack of fds or memory, which no field causes.
    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        use nix::errno::Errno;
        let exhausted = [Errno::EMFILE, Errno::ENFILE, Errno::ENOMEM]
            .iter()
            .any(|e| self.msg.ends_with(&errno_text(*e)));
        if self.pointer.is_none() && !exhausted {
            self.pointer = Some(pointer.into());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pointer {
            Some(p) => write!(f, "{} (config field {p})", self.msg),
            None => f.write_str(&self.msg),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => Error::new(errno_text(nix::errno::Errno::from_raw(n))),
            None => Error::new(e.to_string()),
        }
    }
}

/// strerror text with a lowercase first letter, as Go prints it.
pub fn errno_text(e: nix::errno::Errno) -> String {
    let d = e.desc();
    let mut s = String::with_capacity(d.len());
    let mut chars = d.chars();
    if let Some(c) = chars.next() {
        s.extend(c.to_lowercase());
    }
    s.push_str(chars.as_str());
    s
}

/// Adds context to any result whose error converts into [`Error`].
pub trait Context<T> {
    fn ctx(self, what: impl fmt::Display) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, nix::errno::Errno> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::sys(what, e))
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::from(e).context(what))
    }
}

impl<T> Context<T> for Result<T> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.context(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_is_lowercase_like_go() {
        let e = Error::sys("open /x", nix::errno::Errno::ENOENT);
        assert_eq!(e.msg, "open /x: no such file or directory");
        let e = Error::sys("open /x", nix::errno::Errno::EACCES);
        assert_eq!(e.msg, "open /x: permission denied");
    }

    #[test]
    fn pointer_is_shown() {
        let e = Error::field("/linux/namespaces/2/path", "not a namespace");
        assert_eq!(
            e.to_string(),
            "not a namespace (config field /linux/namespaces/2/path)"
        );
        assert_eq!(e.clone().at("/other").pointer, e.pointer);
    }

    #[test]
    fn running_out_of_fds_is_not_a_config_fault() {
        let e = Error::sys("open /dev/null", nix::errno::Errno::EMFILE).at("/mounts/2");
        assert_eq!(e.pointer, None);
        let e = Error::sys("mount", nix::errno::Errno::EINVAL).at("/mounts/2");
        assert_eq!(e.pointer.as_deref(), Some("/mounts/2"));
    }
}
