//! The pieces of weir's compact binary records (a stored event's header, a
//! delivery record): little-endian fixed-width integers, strings with a
//! u32 length, and options with a one-byte tag. No field names, nothing to
//! parse: reading one costs what copying it does.

/// A record that cannot be read back: it ends early, or holds bytes no
/// writer wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub &'static str);

/// Writes a record's fields in order.
#[derive(Debug, Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// A writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Writer {
        Writer(Vec::with_capacity(capacity))
    }

    /// One byte.
    pub fn u8(&mut self, value: u8) {
        self.0.push(value);
    }

    /// Four bytes.
    pub fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    /// Eight bytes.
    pub fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    /// A string of up to 4 GiB (a record is far smaller).
    pub fn str(&mut self, value: &str) {
        self.u32(value.len() as u32);
        self.0.extend_from_slice(value.as_bytes());
    }

    /// `value` behind a tag: 0 for none, 1 for some.
    pub fn option<T: ?Sized>(&mut self, value: Option<&T>, write: impl FnOnce(&mut Writer, &T)) {
        match value {
            Some(value) => {
                self.u8(1);
                write(self, value);
            }
            None => self.u8(0),
        }
    }
}

/// Reads a record's fields in the order they were written.
#[derive(Debug)]
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let (head, rest) = (self.0.split_first_chunk::<N>()).ok_or(Malformed("it ends early"))?;
        self.0 = rest;
        Ok(*head)
    }

    /// What [`Writer::u8`] wrote.
    pub fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take::<1>()?[0])
    }

    /// What [`Writer::u32`] wrote.
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    /// What [`Writer::u64`] wrote.
    pub fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    /// What [`Writer::str`] wrote.
    pub fn string(&mut self) -> Result<String, Malformed> {
        self.str().map(str::to_owned)
    }

    /// What [`Writer::str`] wrote, borrowed from the input.
    pub fn str(&mut self) -> Result<&'a str, Malformed> {
        let len = self.u32()? as usize;
        let bytes = (self.0.get(..len)).ok_or(Malformed("it ends inside a string"))?;
        self.0 = &self.0[len..];
        std::str::from_utf8(bytes).map_err(|_| Malformed("it holds a string not UTF-8"))
    }

    /// What [`Writer::option`] wrote.
    pub fn option<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, Malformed>,
    ) -> Result<Option<T>, Malformed> {
        match self.u8()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            _ => Err(Malformed("it holds a bad option tag")),
        }
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), Malformed> {
        match self.0.is_empty() {
            true => Ok(()),
            false => Err(Malformed("it has bytes past its end")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_back_in_order_and_a_cut_record_is_refused() {
        let mut out = Writer::default();
        out.u8(7);
        out.u32(70_000);
        out.u64(u64::MAX);
        out.str("ünï");
        out.option(Some("x"), Writer::str);
        out.option(None::<&str>, Writer::str);
        let bytes = out.0;
        let mut input = Reader(&bytes);
        assert_eq!(input.u8(), Ok(7));
        assert_eq!(input.u32(), Ok(70_000));
        assert_eq!(input.u64(), Ok(u64::MAX));
        assert_eq!(input.string().as_deref(), Ok("ünï"));
        assert_eq!(input.option(Reader::string), Ok(Some("x".to_owned())));
        assert_eq!(input.option(Reader::string), Ok(None));
        assert_eq!(input.finish(), Ok(()));

        // Cut two bytes into the string, after its length.
        let mut cut = Reader(&bytes[..1 + 4 + 8 + 4 + 2]);
        (cut.u8().and(cut.u32()).and(cut.u64())).expect("the numbers are whole");
        assert_eq!(cut.string(), Err(Malformed("it ends inside a string")));
        assert_eq!(Reader(&[1, 2]).u32(), Err(Malformed("it ends early")));
        assert_eq!(
            Reader(&[2]).option(Reader::u8),
            Err(Malformed("it holds a bad option tag"))
        );
        assert_eq!(
            Reader(&[1, 0, 0, 0, 0xff]).string(),
            Err(Malformed("it holds a string not UTF-8"))
        );
        assert_eq!(
            Reader(&[0]).finish(),
            Err(Malformed("it has bytes past its end"))
        );
    }
}
