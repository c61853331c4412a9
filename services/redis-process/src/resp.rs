//! A tiny blocking RESP2 client: one command per connection, enough to manage our own
//! servers (PING, INFO, SHUTDOWN, CLUSTER …) without pulling in a Redis client.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The largest bulk string or array we accept: our replies are small.
const MAX_LEN: usize = 16 << 20;
/// How deep arrays may nest (CLUSTER SLOTS nests three levels).
const MAX_DEPTH: usize = 8;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `+OK`.
    Simple(String),
    /// `-ERR …`, `-MOVED …`.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$n` (None for the null bulk string).
    Bulk(Option<Vec<u8>>),
    /// `*n` (None for the null array).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The text of a simple or bulk string.
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Reply::Simple(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// The command as a RESP array of bulk strings.
pub(crate) fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Connects to `addr`, sends one command and reads its reply, each step bounded by `timeout`.
pub(crate) fn command(addr: SocketAddr, args: &[&str], timeout: Duration) -> io::Result<Reply> {
    command_as(addr, None, args, timeout)
}

/// [`command`], first authenticating with `password` if one is given (`AUTH` and the
/// command in one write; a refused `AUTH` is a `PermissionDenied` error).
pub(crate) fn command_as(
    addr: SocketAddr,
    password: Option<&str>,
    args: &[&str],
    timeout: Duration,
) -> io::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(&authenticated(password, args))?;
    let mut r = BufReader::new(s);
    if password.is_some()
        && let Reply::Error(e) = read_reply(&mut r, 0)?
    {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, e));
    }
    read_reply(&mut r, 0)
}

/// Connects to `addr` and sends one command without waiting for a reply (SHUTDOWN has none),
/// after `AUTH` if a password is given.
pub(crate) fn send(
    addr: SocketAddr,
    password: Option<&str>,
    args: &[&str],
    timeout: Duration,
) -> io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(&authenticated(password, args))
}

/// `AUTH password` (if any) followed by the command, encoded.
fn authenticated(password: Option<&str>, args: &[&str]) -> Vec<u8> {
    let mut out = password.map(|p| encode(&["AUTH", p])).unwrap_or_default();
    out.extend(encode(args));
    out
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn read_reply(r: &mut impl BufRead, depth: usize) -> io::Result<Reply> {
    if depth > MAX_DEPTH {
        return Err(bad("RESP reply nested too deeply"));
    }
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(bad("RESP reply cut short"));
    }
    line.truncate(line.len() - 2);
    let (kind, rest) = line.split_first().ok_or_else(|| bad("empty RESP line"))?;
    let rest = String::from_utf8_lossy(rest).into_owned();
    let len = |rest: &str| -> io::Result<Option<usize>> {
        let n: i64 = rest
            .parse()
            .map_err(|_| bad(format!("bad RESP length {rest:?}")))?;
        match usize::try_from(n) {
            Ok(n) if n <= MAX_LEN => Ok(Some(n)),
            Ok(_) => Err(bad(format!("RESP length {n} too large"))),
            Err(_) => Ok(None),
        }
    };
    Ok(match kind {
        b'+' => Reply::Simple(rest),
        b'-' => Reply::Error(rest),
        b':' => Reply::Int(
            rest.parse()
                .map_err(|_| bad(format!("bad RESP integer {rest:?}")))?,
        ),
        b'$' => match len(&rest)? {
            None => Reply::Bulk(None),
            Some(n) => {
                let mut buf = vec![0; n + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n);
                Reply::Bulk(Some(buf))
            }
        },
        b'*' => match len(&rest)? {
            None => Reply::Array(None),
            Some(n) => Reply::Array(Some(
                (0..n)
                    .map(|_| read_reply(r, depth + 1))
                    .collect::<io::Result<_>>()?,
            )),
        },
        other => return Err(bad(format!("unknown RESP type {:?}", *other as char))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_parses() {
        assert_eq!(encode(&["GET", "k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        let raw = b"*3\r\n:5\r\n$-1\r\n*2\r\n+OK\r\n$4\r\na\r\nb\r\n-MOVED 1 x:2\r\n";
        let mut r = &raw[..];
        assert_eq!(
            read_reply(&mut r, 0).unwrap(),
            Reply::Array(Some(vec![
                Reply::Int(5),
                Reply::Bulk(None),
                Reply::Array(Some(vec![
                    Reply::Simple("OK".into()),
                    Reply::Bulk(Some(b"a\r\nb".to_vec())),
                ])),
            ]))
        );
        assert_eq!(
            read_reply(&mut r, 0).unwrap(),
            Reply::Error("MOVED 1 x:2".into())
        );
        assert!(read_reply(&mut &b"$5\r\nab"[..], 0).is_err());
    }
}
