//! Terminals: the pty master reaches the engine over the console socket.

mod common;
use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::process::Stdio;

/// Accepts one connection and receives the pty master and its name.
fn receive_master(listener: &UnixListener) -> (String, std::fs::File) {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let (n, fd) = tong::linux::sys::recv_with_fd(conn.as_fd(), &mut buf).unwrap();
    let name = String::from_utf8(buf[..n].to_vec()).unwrap();
    (
        name,
        std::fs::File::from(fd.expect("no fd with the console message")),
    )
}

/// Reads the master until the slave side is closed (EIO).
fn read_all(master: &mut std::fs::File) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).replace('\r', "")
}

#[test]
fn create_sends_pty_master_over_console_socket() {
    let b = Bundle::new(
        "tty",
        "tty; stty size; ls -l /dev/console | cut -c1; read line; echo got $line",
    );
    b.edit(|c| {
        c["process"]["terminal"] = true.into();
        c["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    });
    let sock = b.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let create = b
        .cmd(&[
            "create",
            "--console-socket",
            sock.to_str().unwrap(),
            "--bundle",
            b.dir.to_str().unwrap(),
            &b.id,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (name, mut master) = receive_master(&listener);
    let st = create.wait_with_output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(name.starts_with("/dev/pts/"), "{name}");
    assert!(b.tong(&["start", &b.id]).status.success());
    // Read up to the point where the process waits for input, then answer.
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen)
        .replace('\r', "")
        .ends_with("\nc\n")
    {
        let n = master.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "pty closed early: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        String::from_utf8_lossy(&seen).replace('\r', ""),
        format!("{name}\n33 101\nc\n")
    );
    master.write_all(b"hello\n").unwrap();
    let out = read_all(&mut master);
    // The terminal echoes our input, then the process answers.
    assert_eq!(out, "hello\ngot hello\n");
}

#[test]
fn exec_tty_over_console_socket() {
    let b = Bundle::new("exectty", "sleep 1000");
    let out = b.tong(&["run", "-d", "--bundle", b.dir.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sock = b.dir.join("exec.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut exec = b
        .cmd(&[
            "exec",
            "-t",
            "--console-socket",
            sock.to_str().unwrap(),
            &b.id,
            "sh",
            "-c",
            "tty; exit 3",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (name, mut master) = receive_master(&listener);
    let out = read_all(&mut master);
    assert_eq!(out, format!("{name}\n"));
    assert_eq!(exec.wait().unwrap().code(), Some(3));
}

#[test]
fn console_socket_without_terminal_is_refused() {
    let b = Bundle::new("notty", "true");
    let out = b.tong(&[
        "create",
        "--console-socket",
        "/nonexistent.sock",
        "--bundle",
        b.dir.to_str().unwrap(),
        &b.id,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot use console socket"),
        "{}",
        stderr(&out)
    );
    b.assert_nothing_left();
}

#[test]
fn run_proxies_the_terminal_in_the_foreground() {
    let b = Bundle::new("runtty", "tty; read line; echo got $line; exit 4");
    b.edit(|c| c["process"]["terminal"] = true.into());
    let mut child = b
        .cmd(&["run", "--bundle", b.dir.to_str().unwrap(), &b.id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The pty echoes our input, possibly before the process prints.
    assert!(text.lines().any(|l| l.starts_with("/dev/pts/")), "{text:?}");
    assert!(text.contains("got hello"), "{text:?}");
    b.assert_nothing_left();
}
