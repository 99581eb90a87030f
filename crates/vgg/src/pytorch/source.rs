//! Where a PyTorch file's bytes come from: memory, or a file read piece by
//! piece. Reading in place matters for torchvision's VGG-19: of its 548 MB,
//! the convolutions restyle uses are 80 MB, and the rest need never be read.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// Random access to a file's bytes.
pub(crate) trait Source<'a> {
    /// The file's length in bytes.
    fn len(&self) -> u64;

    /// `len` bytes from `offset`; an error if they are not all there.
    fn read_at(&mut self, offset: u64, len: usize) -> io::Result<Cow<'a, [u8]>>;
}

fn past_the_end() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file ends before the bytes it refers to",
    )
}

impl<'a> Source<'a> for &'a [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&mut self, offset: u64, len: usize) -> io::Result<Cow<'a, [u8]>> {
        let start = usize::try_from(offset).map_err(|_| past_the_end())?;
        let bytes: &'a [u8] = self;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(past_the_end)?;
        Ok(Cow::Borrowed(&bytes[start..end]))
    }
}

/// A file, read where asked.
pub(crate) struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    pub(crate) fn new(file: File) -> io::Result<FileSource> {
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }
}

impl<'a> Source<'a> for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, len: usize) -> io::Result<Cow<'a, [u8]>> {
        // Checked first, so that a hostile length allocates nothing.
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(past_the_end());
        }
        self.file.seek(SeekFrom::Start(offset))?;
        let mut bytes = vec![0; len];
        self.file.read_exact(&mut bytes)?;
        Ok(Cow::Owned(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked_against_the_length() {
        let data: &[u8] = b"0123456789";
        let mut source = data;
        assert_eq!(&*source.read_at(2, 3).unwrap(), b"234");
        assert_eq!(&*source.read_at(10, 0).unwrap(), b"");
        assert!(source.read_at(8, 3).is_err());
        assert!(source.read_at(u64::MAX, 1).is_err());

        let path = std::env::temp_dir().join(format!("restyle-source-test-{}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        let mut file = FileSource::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(file.len(), 10);
        assert_eq!(&*file.read_at(7, 3).unwrap(), b"789");
        assert!(file.read_at(8, 3).is_err());
        assert!(file.read_at(1, usize::MAX).is_err());
        drop(file);
        std::fs::remove_file(&path).unwrap();
    }
}
