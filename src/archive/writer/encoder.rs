//! The encoder thread: opens each file under its temporary name, encodes its record
//! batches into row groups (each on a worker thread of its own: state files by
//! [`StateEncoder`], spikes files by the Arrow column writers), appends them in order, and
//! at the end writes the footer with the file's metadata, syncs and renames it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::{Schema, SchemaRef};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
    ArrowWriterOptions,
};
use parquet::arrow::{encode_arrow_schema, ArrowWriter};
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataReader, ParquetMetaDataWriter,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use super::file::Checksummed;
use crate::archive::encode::{EncodedColumn, Pool, SampleRun, StateColumns, StateEncoder};
use crate::archive::ArchiveError;

/// A file being written, as the encoder thread holds it.
pub(super) struct EncFile {
    tmp: PathBuf,
    writer: SerializedFileWriter<Checksummed>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// State files: every column is written by [`StateEncoder`]; `None` (spikes): by the
    /// Arrow column writers.
    state: Option<Arc<StateColumns>>,
    /// Value buffers going back to the simulating thread once encoded.
    values: Pool<f64>,
    /// The row group receiving batches, encoded by its own worker thread.
    current: Option<RowGroupTask>,
    /// Row groups whose batches are all sent, oldest first, still being encoded.
    finishing: std::collections::VecDeque<Receiver<Result<EncodedGroup, ParquetError>>>,
    row_group_rows: usize,
    rows_in_group: usize,
    row_groups: usize,
    rows: u64,
}

/// The rows of one record batch as the encoder receives them.
pub(super) struct BatchData {
    /// Spikes files: the Arrow arrays of all columns.
    pub(super) columns: Vec<ArrayRef>,
    /// State files: one entry per sample ...
    pub(super) samples: Vec<SampleRun>,
    /// ... and, per recorded variable, the values of all rows.
    pub(super) values: Vec<Vec<f64>>,
}

impl BatchData {
    fn rows(&self) -> usize {
        match self.columns.first() {
            Some(c) => c.len(),
            None => self.samples.iter().map(|s| s.rows as usize).sum(),
        }
    }
}

/// An encoded row group: hand-written column chunks (state) or Arrow-written ones (spikes).
enum EncodedGroup {
    State(Vec<EncodedColumn>),
    Arrow(Vec<ArrowColumnChunk>),
}

/// A row group being encoded: row groups are independent, so consecutive row groups are
/// encoded on different threads at the same time and appended to the file in order.
struct RowGroupTask {
    batches: Sender<BatchData>,
    done: Receiver<Result<EncodedGroup, ParquetError>>,
}

impl RowGroupTask {
    /// A worker encoding a state row group.
    fn spawn_state(state: Arc<StateColumns>, values: Pool<f64>) -> Self {
        let (batches, rx) = std::sync::mpsc::channel::<BatchData>();
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let result = (|| {
                let mut enc = StateEncoder::new(&state)?;
                for batch in rx {
                    enc.push(&batch.samples, &batch.values)?;
                    for v in batch.values {
                        values.put(v);
                    }
                }
                Ok(EncodedGroup::State(enc.finish()?))
            })();
            let _ = done_tx.send(result);
        });
        Self { batches, done }
    }

    /// A worker encoding a spikes row group with the Arrow column writers.
    fn spawn_arrow(writers: Vec<ArrowColumnWriter>, schema: SchemaRef) -> Self {
        let (batches, rx) = std::sync::mpsc::channel::<BatchData>();
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut writers = writers;
            let result = (|| {
                for batch in rx {
                    let mut w = writers.iter_mut();
                    for (field, array) in schema.fields().iter().zip(&batch.columns) {
                        for leaf in compute_leaves(field, array)? {
                            w.next()
                                .ok_or_else(|| {
                                    ParquetError::General("more leaves than column writers".into())
                                })?
                                .write(&leaf)?;
                        }
                    }
                }
                let chunks = writers
                    .into_iter()
                    .map(|w| w.close())
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(EncodedGroup::Arrow(chunks))
            })();
            let _ = done_tx.send(result);
        });
        Self { batches, done }
    }
}

/// What the encoder thread is asked to do.
pub(super) enum Job {
    Open {
        id: u64,
        tmp: PathBuf,
        schema: SchemaRef,
        props: Box<WriterProperties>,
        row_group_rows: usize,
        /// Bytes between early writebacks (files fsynced at close only).
        writeback_bytes: Option<u64>,
        /// State files: encoded by [`StateEncoder`].
        state: Option<StateSetup>,
    },
    Batch {
        id: u64,
        batch: BatchData,
    },
    Close {
        id: u64,
        meta: Vec<KeyValue>,
        path: PathBuf,
        sync: bool,
        reply: Sender<Result<(u64, u64, u32), ArchiveError>>,
    },
    /// The chunk is dropped: the file is closed and its staged file `tmp` removed.
    Abort {
        id: u64,
        tmp: PathBuf,
    },
    /// The file's stream has moved on to its next part: encode and write its last row
    /// groups now, so only its footer metadata waits in memory for the chunk's end.
    Seal {
        id: u64,
    },
}

/// How a state file is encoded.
pub(super) struct StateSetup {
    pub(super) zstd_level: i32,
    /// Row-group statistics on `step`.
    pub(super) step_statistics: bool,
    pub(super) f32_values: bool,
    /// The pool the value buffers go back to once encoded.
    pub(super) values: Pool<f64>,
    /// A projection's `(post, pre)` of the rows of each sample.
    pub(super) keys: Option<Arc<[(u32, u32)]>>,
}

/// A file as the encoder thread holds it: being written, or sealed.
enum FileState {
    Open(Box<EncFile>),
    Sealed(SealedFile),
}

pub(super) fn encoder_loop(jobs: Receiver<Job>) {
    let mut files: HashMap<u64, Result<FileState, ArchiveError>> = HashMap::new();
    for job in jobs {
        match job {
            Job::Open {
                id,
                tmp,
                schema,
                props,
                row_group_rows,
                writeback_bytes,
                state,
            } => {
                files.insert(
                    id,
                    open_file(tmp, schema, *props, row_group_rows, writeback_bytes, state)
                        .map(|f| FileState::Open(Box::new(f))),
                );
            }
            Job::Batch { id, batch } => {
                crate::archive::crash_point("batch");
                if let Some(Ok(FileState::Open(file))) = files.get_mut(&id) {
                    if let Err(e) = write_batch(file, batch) {
                        files.insert(id, Err(e));
                    }
                }
            }
            Job::Close {
                id,
                meta,
                path,
                sync,
                reply,
            } => {
                let result = match files.remove(&id) {
                    Some(Ok(FileState::Open(file))) => close_file(*file, meta, &path, sync),
                    Some(Ok(FileState::Sealed(file))) => close_sealed(file, meta, &path, sync),
                    Some(Err(e)) => Err(e),
                    None => Err(ArchiveError::EncoderGone(format!(
                        "file {} was never opened",
                        path.display()
                    ))),
                };
                let _ = reply.send(result);
            }
            Job::Seal { id } => match files.remove(&id) {
                Some(Ok(FileState::Open(file))) => {
                    files.insert(id, seal(*file).map(FileState::Sealed));
                }
                // An error stays to be reported when the file is closed.
                Some(other) => {
                    files.insert(id, other);
                }
                None => {}
            },
            Job::Abort { id, tmp } => {
                drop(files.remove(&id));
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

fn open_file(
    tmp: PathBuf,
    schema: SchemaRef,
    props: WriterProperties,
    row_group_rows: usize,
    writeback_bytes: Option<u64>,
    state: Option<StateSetup>,
) -> Result<EncFile, ArchiveError> {
    if let Some(parent) = tmp.parent() {
        std::fs::create_dir_all(parent).map_err(ArchiveError::io(parent))?;
    }
    let out = Checksummed::create(&tmp, writeback_bytes)?;
    // The Arrow schema is stored at the end (see `close_file`), when the metadata is complete.
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_skip_arrow_metadata(true);
    let writer = ArrowWriter::try_new_with_options(out, Arc::clone(&schema), options)
        .map_err(ArchiveError::parquet(&tmp))?;
    let (writer, factory) = writer
        .into_serialized_writer()
        .map_err(ArchiveError::parquet(&tmp))?;
    let (state, values) = match state {
        Some(setup) => {
            let descr = writer.schema_descr();
            let state = StateColumns {
                descr: (0..descr.num_columns()).map(|i| descr.column(i)).collect(),
                zstd_level: setup.zstd_level,
                step_statistics: setup.step_statistics,
                page_rows: crate::archive::encode::PAGE_ROWS,
                row_group_rows,
                f32_values: setup.f32_values,
                chunks: Pool::default(),
                workspaces: Arc::default(),
                keys: setup.keys,
            };
            (Some(Arc::new(state)), setup.values)
        }
        None => (None, Pool::default()),
    };
    Ok(EncFile {
        tmp,
        writer,
        factory,
        schema,
        state,
        values,
        current: None,
        finishing: Default::default(),
        row_group_rows,
        rows_in_group: 0,
        row_groups: 0,
        rows: 0,
    })
}

fn write_batch(file: &mut EncFile, batch: BatchData) -> Result<(), ArchiveError> {
    let tmp = file.tmp.clone();
    if file.current.is_none() {
        file.current = Some(match &file.state {
            Some(state) => RowGroupTask::spawn_state(Arc::clone(state), file.values.clone()),
            None => {
                let writers = file
                    .factory
                    .create_column_writers(file.row_groups)
                    .map_err(ArchiveError::parquet(&tmp))?;
                RowGroupTask::spawn_arrow(writers, Arc::clone(&file.schema))
            }
        });
        file.row_groups += 1;
    }
    let rows = batch.rows();
    if let Some(task) = &file.current {
        if task.batches.send(batch).is_err() {
            // The worker stopped on an error: report that error, not just the stop.
            let task = file.current.take();
            let reason = match task.map(|t| t.done.recv()) {
                Some(Ok(Err(e))) => return Err(ArchiveError::parquet(&tmp)(e)),
                _ => "a row-group encoder stopped",
            };
            return Err(ArchiveError::EncoderGone(format!(
                "{}: {reason}",
                tmp.display()
            )));
        }
    }
    file.rows_in_group += rows;
    file.rows += rows as u64;
    if file.rows_in_group >= file.row_group_rows {
        end_row_group(file)?;
        // At most one finished row group waits besides the one being filled: bounded memory.
        while file.finishing.len() > 1 {
            append_oldest(file)?;
        }
    }
    Ok(())
}

/// A part whose stream has moved on to its next part: its row groups, page index and a
/// provisional footer are on disk, and the writer's memory (buffers, row-group metadata)
/// is released. Only what its final footer needs stays, however long the chunk goes on.
pub(super) struct SealedFile {
    tmp: PathBuf,
    schema: SchemaRef,
    rows: u64,
    /// Bytes up to the end of the last row group, and their CRC-32 so far.
    data_end: u64,
    data_crc: crc32fast::Hasher,
}

/// Writes every row group of the file still being encoded and a provisional footer (the
/// chunk's metadata is known only when it ends, see [`close_sealed`]).
fn seal(mut file: EncFile) -> Result<SealedFile, ArchiveError> {
    let tmp = file.tmp.clone();
    end_row_group(&mut file)?;
    while !file.finishing.is_empty() {
        append_oldest(&mut file)?;
    }
    let (data_end, data_crc) = file.writer.inner().position();
    let out = file
        .writer
        .into_inner()
        .map_err(ArchiveError::parquet(&tmp))?;
    out.finish(&tmp, false)?;
    Ok(SealedFile {
        tmp,
        schema: file.schema,
        rows: file.rows,
        data_end,
        data_crc,
    })
}

/// Completes a sealed part: its provisional footer is replaced by the final one, with the
/// chunk's metadata; the row groups and page index stay where they are. The CRC-32 goes on
/// from the data's and reads back only the page index.
fn close_sealed(
    file: SealedFile,
    meta: Vec<KeyValue>,
    path: &Path,
    sync: bool,
) -> Result<(u64, u64, u32), ArchiveError> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let tmp = &file.tmp;
    let io = ArchiveError::io(tmp);
    let mut handle = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(tmp)
        .map_err(ArchiveError::io(tmp))?;
    let len = handle.metadata().map_err(ArchiveError::io(tmp))?.len();
    let old = ParquetMetaDataReader::new()
        .parse_and_finish(&handle)
        .map_err(ArchiveError::parquet(tmp))?;
    let mut tail = [0u8; 8];
    handle
        .seek(SeekFrom::Start(len.saturating_sub(8)))
        .and_then(|_| handle.read_exact(&mut tail))
        .map_err(ArchiveError::io(tmp))?;
    let footer_len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    let footer_start = len
        .checked_sub(8 + footer_len)
        .filter(|s| *s >= file.data_end)
        .ok_or_else(|| ArchiveError::Corrupt {
            path: tmp.clone(),
            what: "the provisional footer of a sealed part is not where it was written".into(),
        })?;
    let fm = old.file_metadata();
    let kvs = final_key_values(&file.schema, meta);
    let new_meta = FileMetaData::new(
        fm.version(),
        fm.num_rows(),
        fm.created_by().map(str::to_string),
        Some(kvs),
        fm.schema_descr_ptr(),
        fm.column_orders().cloned(),
    );
    let complete = ParquetMetaData::new(new_meta, old.row_groups().to_vec());
    let mut footer = Vec::new();
    ParquetMetaDataWriter::new(&mut footer, &complete)
        .finish()
        .map_err(ArchiveError::parquet(tmp))?;
    // The page index between the data and the old footer, read back for the checksum.
    let mut crc = file.data_crc;
    let mut index = vec![0u8; (footer_start - file.data_end) as usize];
    handle
        .seek(SeekFrom::Start(file.data_end))
        .and_then(|_| handle.read_exact(&mut index))
        .map_err(ArchiveError::io(tmp))?;
    crc.update(&index);
    crc.update(&footer);
    handle
        .set_len(footer_start)
        .and_then(|()| handle.seek(SeekFrom::Start(footer_start)).map(|_| ()))
        .and_then(|()| handle.write_all(&footer))
        .map_err(ArchiveError::io(tmp))?;
    if sync {
        handle.sync_all().map_err(io)?;
    }
    drop(handle);
    crate::archive::crash_point("file_written");
    if tmp != path {
        std::fs::rename(tmp, path).map_err(ArchiveError::io(path))?;
    }
    Ok((
        file.rows,
        footer_start + footer.len() as u64,
        crc.finalize(),
    ))
}

/// The key-value metadata of a finished file: neurorec's keys and the Arrow schema carrying
/// them too (readers such as pyarrow take a file's schema metadata from the stored Arrow
/// schema when there is one).
fn final_key_values(schema: &SchemaRef, meta: Vec<KeyValue>) -> Vec<KeyValue> {
    let mut metadata = schema.metadata().clone();
    for kv in &meta {
        metadata.insert(kv.key.clone(), kv.value.clone().unwrap_or_default());
    }
    let full = Schema::new(schema.fields().clone()).with_metadata(metadata);
    let mut kvs = meta;
    kvs.push(KeyValue::new(
        "ARROW:schema".to_string(),
        encode_arrow_schema(&full),
    ));
    kvs
}

/// Stops feeding the current row group; its worker finishes encoding in the background.
fn end_row_group(file: &mut EncFile) -> Result<(), ArchiveError> {
    if let Some(task) = file.current.take() {
        drop(task.batches);
        file.finishing.push_back(task.done);
        file.rows_in_group = 0;
    }
    Ok(())
}

/// Waits for the oldest finishing row group and appends it to the file.
fn append_oldest(file: &mut EncFile) -> Result<(), ArchiveError> {
    let tmp = file.tmp.clone();
    let Some(done) = file.finishing.pop_front() else {
        return Ok(());
    };
    let encoded = done
        .recv()
        .map_err(|_| {
            ArchiveError::EncoderGone(format!("{}: a row-group encoder stopped", tmp.display()))
        })?
        .map_err(ArchiveError::parquet(&tmp))?;
    let mut group = file
        .writer
        .next_row_group()
        .map_err(ArchiveError::parquet(&tmp))?;
    match encoded {
        EncodedGroup::State(columns) => {
            for column in columns {
                group
                    .append_column(&column.data, column.close)
                    .map_err(ArchiveError::parquet(&tmp))?;
                if let Some(state) = &file.state {
                    state.chunks.put_bytes(column.data);
                }
            }
        }
        EncodedGroup::Arrow(chunks) => {
            for chunk in chunks {
                chunk
                    .append_to_row_group(&mut group)
                    .map_err(ArchiveError::parquet(&tmp))?;
            }
        }
    }
    group.close().map_err(ArchiveError::parquet(&tmp))?;
    Ok(())
}

fn close_file(
    mut file: EncFile,
    meta: Vec<KeyValue>,
    path: &Path,
    sync: bool,
) -> Result<(u64, u64, u32), ArchiveError> {
    let tmp = file.tmp.clone();
    end_row_group(&mut file)?;
    while !file.finishing.is_empty() {
        append_oldest(&mut file)?;
    }
    for kv in final_key_values(&file.schema, meta) {
        file.writer.append_key_value_metadata(kv);
    }
    let out = file
        .writer
        .into_inner()
        .map_err(ArchiveError::parquet(&tmp))?;
    let (bytes, crc) = out.finish(&tmp, sync)?;
    crate::archive::crash_point("file_written");
    if tmp != path {
        std::fs::rename(&tmp, path).map_err(ArchiveError::io(path))?;
    }
    Ok((file.rows, bytes, crc))
}
