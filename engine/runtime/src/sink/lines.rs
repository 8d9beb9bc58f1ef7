//! JSON-lines outputs: stdout or a file, created afresh (a finite run) or
//! appended to (a job that resumes), and the CloudEvents sink over them.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::{CloudEventEncoder, SinkError};
use crate::driver::EventSink;
use crate::pipeline::OutputEvent;

/// A buffered line output with its name for errors. A file opened to
/// append is also synced at [`LineWriter::sync`], so a barrier that has
/// passed leaves its lines on disk.
pub struct LineWriter {
    name: PathBuf,
    writer: Box<dyn Write + Send>,
    sync: Option<File>,
}

impl LineWriter {
    pub fn stdout() -> Self {
        LineWriter {
            name: PathBuf::from("<stdout>"),
            writer: Box::new(BufWriter::new(std::io::stdout())),
            sync: None,
        }
    }

    /// Creates `path`, or truncates it: the output of one finite run.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        let file = File::create(path).map_err(|e| SinkError::open(path, e))?;
        Ok(LineWriter {
            name: path.to_path_buf(),
            writer: Box::new(BufWriter::new(file)),
            sync: None,
        })
    }

    /// Opens `path` to append, creating it: the output of a job that
    /// resumes after a restart.
    pub fn append(path: &Path) -> Result<Self, SinkError> {
        let open = || {
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            Ok::<_, std::io::Error>((file.try_clone()?, file))
        };
        let (file, sync) = open().map_err(|e| SinkError::open(path, e))?;
        Ok(LineWriter {
            name: path.to_path_buf(),
            writer: Box::new(BufWriter::new(file)),
            sync: Some(sync),
        })
    }

    /// The path, or `<stdout>`.
    pub fn name(&self) -> &Path {
        &self.name
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        let result = self.writer.write_all(bytes);
        self.check(result)
    }

    /// Hands the buffered lines to the operating system.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        let result = self.writer.flush();
        self.check(result)
    }

    /// Flushes, and puts a file opened to append on disk.
    pub fn sync(&mut self) -> Result<(), SinkError> {
        self.flush()?;
        if let Some(file) = &self.sync {
            let result = file.sync_data();
            self.check(result)?;
        }
        Ok(())
    }

    fn check(&self, result: std::io::Result<()>) -> Result<(), SinkError> {
        match result {
            Ok(()) => Ok(()),
            // `eddy run ... | head`: the reader went away.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(SinkError::Closed),
            Err(e) => Err(SinkError::write(&self.name, e)),
        }
    }
}

/// Derived events as CloudEvents JSON lines.
pub struct CloudEventLines {
    encoder: CloudEventEncoder,
    out: LineWriter,
    buffer: Vec<u8>,
}

impl CloudEventLines {
    pub fn new(encoder: CloudEventEncoder, out: LineWriter) -> Self {
        CloudEventLines {
            encoder,
            out,
            buffer: Vec::new(),
        }
    }

    /// Encodes with `encoder` from now on (the rules were reloaded).
    pub fn set_encoder(&mut self, encoder: CloudEventEncoder) {
        self.encoder = encoder;
    }

    pub fn name(&self) -> &Path {
        self.out.name()
    }
}

impl EventSink for CloudEventLines {
    fn write(&mut self, events: &[OutputEvent]) -> Result<(), SinkError> {
        self.buffer.clear();
        for event in events {
            self.encoder.encode(event, &mut self.buffer);
        }
        self.out.write(&self.buffer)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush()
    }

    fn barrier(&mut self) -> Result<(), SinkError> {
        self.out.sync()
    }
}
