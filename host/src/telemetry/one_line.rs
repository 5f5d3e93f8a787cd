//! Log fields written so that one record stays one line: a plugin's log
//! message, a `fail` reason or an event id is text from outside, and a
//! newline or terminal escape in it must not forge a log line or repaint
//! an operator's terminal. Control characters are written escaped (`\n`,
//! `\u{1b}`); JSON lines escape them already.

use std::fmt::{self, Write};

use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

/// The field formatter of the plain-text log: `message`, then `name=value`
/// pairs, every control character escaped.
pub fn fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(write_field).delimited(" ")
}

fn write_field(writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    let mut escaped = Escaping(writer);
    if field.name() == "message" {
        write!(escaped, "{value:?}")
    } else {
        write!(escaped, "{}={value:?}", field.name())
    }
}

/// A writer that passes text on with its control characters escaped.
struct Escaping<'a, W>(&'a mut W);

impl<W: Write> Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Most text has none: one pass over its bytes, and it passes on
        // whole. A control character is a byte below 0x20, 0x7f, or
        // U+0080 to U+009F, which UTF-8 writes as 0xc2 and one more byte.
        if !text
            .bytes()
            .any(|byte| byte < 0x20 || byte == 0x7f || byte == 0xc2)
        {
            return self.0.write_str(text);
        }
        let mut plain = 0;
        for (at, c) in text.char_indices() {
            if c.is_control() {
                self.0.write_str(&text[plain..at])?;
                write!(self.0, "{}", c.escape_default())?;
                plain = at + c.len_utf8();
            }
        }
        self.0.write_str(&text[plain..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    /// A log sink the test reads back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_forged_line_and_a_terminal_escape_stay_inside_one_record() {
        let sink = Sink::default();
        let writer = sink.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .fmt_fields(fields())
            .with_writer(move || writer.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        let forged = "ok\n2026-01-01T00:00:00Z ERROR weir: forged\u{1b}[2J\u{85}caf\u{e9}";
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(event_id = %forged, reason = forged, "handler said {forged}");
        });
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        // A control character past ASCII is escaped too, and other text
        // past it is not.
        assert!(!text.contains('\u{85}'), "{text}");
        assert!(text.contains(r"[2J\u{85}café"), "{text}");
        assert!(
            text.contains(r"handler said ok\n2026-01-01T00:00:00Z ERROR weir: forged\u{1b}[2J"),
            "{text}"
        );
        assert!(text.contains(r"event_id=ok\n2026"), "{text}");
        assert!(text.contains(r#"reason="ok\n2026"#), "{text}");
    }
}
