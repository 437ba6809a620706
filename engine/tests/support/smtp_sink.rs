//! A tiny SMTP server for tests: listens on 127.0.0.1 on a free port, speaks enough SMTP for
//! a client to deliver (EHLO/HELO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT) and records each
//! message. It can be told to refuse recipients with a 550, like a server that does not know them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One message the sink accepted.
#[derive(Debug, Clone, Default)]
pub(crate) struct SinkMessage {
    /// Envelope sender (inside `MAIL FROM:<…>`).
    pub(crate) from: String,
    /// Envelope recipients, in order.
    pub(crate) to: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed, CRLF line ends.
    pub(crate) data: String,
}

impl SinkMessage {
    /// A header's value, folded lines joined.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = value.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((n, v)) = line.split_once(':')
                && n.eq_ignore_ascii_case(name)
            {
                value = Some(v.trim().to_string());
            }
        }
        value
    }

    /// The body (after the blank line that ends the headers).
    pub(crate) fn body(&self) -> String {
        self.data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.replace("\r\n", "\n"))
            .unwrap_or_default()
    }
}

/// The running sink; stops when dropped.
pub(crate) struct SmtpSink {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    messages: Arc<Mutex<Vec<SinkMessage>>>,
    task: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// A sink that accepts every message.
    pub(crate) async fn start() -> Self {
        Self::with_rcpt_reply(None).await
    }

    /// A sink that answers every `RCPT TO` with `reply` (e.g. `550 5.1.1 no such user`).
    pub(crate) async fn refusing_recipients(reply: &'static str) -> Self {
        Self::with_rcpt_reply(Some(reply)).await
    }

    async fn with_rcpt_reply(refuse: Option<&'static str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&messages);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let _ = converse(stream, store, refuse).await;
                });
            }
        });
        SmtpSink {
            addr,
            messages,
            task,
        }
    }

    /// Messages accepted so far.
    pub(crate) fn messages(&self) -> Vec<SinkMessage> {
        self.messages.lock().unwrap().clone()
    }
}

/// One SMTP session.
async fn converse(
    stream: TcpStream,
    store: Arc<Mutex<Vec<SinkMessage>>>,
    refuse: Option<&'static str>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut current = SinkMessage::default();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => "250-sink.test\r\n250 8BITMIME\r\n".into(),
            "HELO" | "NOOP" => "250 ok\r\n".into(),
            "RSET" => {
                current = SinkMessage::default();
                "250 ok\r\n".into()
            }
            "MAIL" => {
                current = SinkMessage {
                    from: angle_address(command),
                    ..SinkMessage::default()
                };
                "250 ok\r\n".into()
            }
            "RCPT" => match refuse {
                Some(reply) => format!("{reply}\r\n"),
                None => {
                    current.to.push(angle_address(command));
                    "250 ok\r\n".into()
                }
            },
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // Dot-stuffing: a leading dot was doubled by the client.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                current.data = data;
                store.lock().unwrap().push(std::mem::take(&mut current));
                "250 queued\r\n".into()
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 command not implemented\r\n".into(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// `MAIL FROM:<a@x.eu> SIZE=12` → `a@x.eu`.
fn angle_address(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(addr, _)| addr.to_string())
        .unwrap_or_default()
}
