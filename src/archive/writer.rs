//! The streaming writer: an [`ArchiveWriter`] is a monitor [`Sink`] that buffers samples
//! (state: one entry per sample plus the value columns; spikes: Arrow columns), cuts them
//! into record batches of about `batch_rows` rows and hands each batch to an encoder thread.
//! The encoder writes each file under a temporary name; each row group is encoded on a
//! worker thread of its own (state files by [`super::encode::StateEncoder`], spikes files by
//! the Arrow column writers) while the next one fills, a row group closes every
//! `row_group_rows` rows (so memory stays bounded) and, when the chunk ends, the period
//! table is appended to the footer, the file synced and renamed. Every chunk's begin and end is recorded durably in the
//! manifest's journal at once; the manifest itself is replaced atomically now and then.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow_array::{ArrayRef, Float64Array, Int64Array, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::{encode_arrow_schema, ArrowWriter};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

use super::encode::{EncodedColumn, Pool, SampleRun, StateColumns, StateEncoder};
use super::manifest::{
    sync_dir, ChunkEntry, ChunkStatus, CompartmentPeriods, FileEntry, JournalEntry, Manifest,
    ManifestWriter, SetEntry,
};
use super::meta::{compact_parameters, period_rows, FileMeta};
use super::options::QUEUED_BATCHES;
pub use super::options::{ArchiveOptions, ValueStorage};
use super::{chunk_dir, part_name, temp_part_name, ArchiveError, Kind, FORMAT_VERSION};
use crate::monitor::{ChunkEnd, ChunkStart, CompartmentInfo, Sink, SinkError, StateSample};

/// A file being written, as the encoder thread holds it.
struct EncFile {
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
struct BatchData {
    /// Spikes files: the Arrow arrays of all columns.
    columns: Vec<ArrayRef>,
    /// State files: one entry per sample ...
    samples: Vec<SampleRun>,
    /// ... and, per recorded variable, the values of all rows.
    values: Vec<Vec<f64>>,
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

/// A writer that counts bytes and computes the CRC-32 of everything written.
struct Checksummed {
    inner: BufWriter<File>,
    hasher: crc32fast::Hasher,
    bytes: u64,
    writeback: Option<Writeback>,
}

/// Early writeback: every `ArchiveOptions::writeback_bytes` a background thread asks the OS to write what
/// the file holds so far to disk, while encoding goes on; the fsync at close then has at
/// most the last stretch left to wait for (it cost 0.4-0.5 s per 610 MB otherwise). An error
/// of an early sync is kept and reported when the file is closed (the OS reports a
/// writeback error only once, so the final fsync might not see it again).
struct Writeback {
    file: Arc<File>,
    every: u64,
    next_at: u64,
    busy: Arc<std::sync::atomic::AtomicBool>,
    error: Arc<std::sync::Mutex<Option<std::io::Error>>>,
}

impl Writeback {
    fn after(&mut self, bytes: u64) {
        use std::sync::atomic::Ordering;
        if bytes < self.next_at || self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        self.next_at = bytes + self.every;
        let (file, busy) = (Arc::clone(&self.file), Arc::clone(&self.busy));
        let error = Arc::clone(&self.error);
        let spawned = std::thread::Builder::new()
            .name("neurorec-writeback".into())
            .spawn(move || {
                if let Err(e) = file.sync_data() {
                    if let Ok(mut slot) = error.lock() {
                        slot.get_or_insert(e);
                    }
                }
                busy.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.busy.store(false, Ordering::Release);
        }
    }
}

impl Write for Checksummed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if let Some(w) = &mut self.writeback {
            w.after(self.bytes);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What the encoder thread is asked to do.
enum Job {
    Open {
        id: u64,
        tmp: PathBuf,
        schema: SchemaRef,
        props: Box<WriterProperties>,
        row_group_rows: usize,
        /// Bytes between early writebacks (files fsynced at close only).
        writeback_bytes: Option<u64>,
        /// State files: encoded by [`StateEncoder`] (zstd level, statistics on `step`,
        /// f32 values, the pool of value buffers).
        state: Option<(i32, bool, bool, Pool<f64>)>,
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
    Abort {
        id: u64,
    },
}

fn encoder_loop(jobs: Receiver<Job>) {
    let mut files: HashMap<u64, Result<EncFile, ArchiveError>> = HashMap::new();
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
                    open_file(tmp, schema, *props, row_group_rows, writeback_bytes, state),
                );
            }
            Job::Batch { id, batch } => {
                super::crash_point("batch");
                if let Some(Ok(file)) = files.get_mut(&id) {
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
                    Some(Ok(file)) => close_file(file, meta, &path, sync),
                    Some(Err(e)) => Err(e),
                    None => Err(ArchiveError::EncoderGone(format!(
                        "file {} was never opened",
                        path.display()
                    ))),
                };
                let _ = reply.send(result);
            }
            Job::Abort { id } => {
                if let Some(Ok(file)) = files.remove(&id) {
                    let tmp = file.tmp.clone();
                    drop(file);
                    let _ = std::fs::remove_file(tmp);
                }
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
    state: Option<(i32, bool, bool, Pool<f64>)>,
) -> Result<EncFile, ArchiveError> {
    if let Some(parent) = tmp.parent() {
        std::fs::create_dir_all(parent).map_err(ArchiveError::io(parent))?;
    }
    let file = File::create(&tmp).map_err(ArchiveError::io(&tmp))?;
    // A second handle of the same file for early writeback (only when fsynced at close).
    let writeback = match writeback_bytes.map(|every| (every.max(1), file.try_clone())) {
        Some((every, Ok(clone))) => Some(Writeback {
            file: Arc::new(clone),
            every,
            next_at: every,
            busy: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            error: Arc::default(),
        }),
        _ => None,
    };
    let out = Checksummed {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: crc32fast::Hasher::new(),
        bytes: 0,
        writeback,
    };
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
        Some((zstd_level, step_statistics, f32_values, values)) => {
            let descr = writer.schema_descr();
            let state = StateColumns {
                descr: (0..descr.num_columns()).map(|i| descr.column(i)).collect(),
                zstd_level,
                step_statistics,
                page_rows: super::encode::PAGE_ROWS,
                row_group_rows,
                f32_values,
                chunks: Pool::default(),
                workspaces: Arc::default(),
            };
            (Some(Arc::new(state)), values)
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
    // Readers such as pyarrow take a file's schema metadata from the stored Arrow schema
    // when there is one, so it carries every key-value pair too.
    let mut metadata = file.schema.metadata().clone();
    for kv in &meta {
        metadata.insert(kv.key.clone(), kv.value.clone().unwrap_or_default());
    }
    let full = Schema::new(file.schema.fields().clone()).with_metadata(metadata);
    for kv in meta {
        file.writer.append_key_value_metadata(kv);
    }
    file.writer.append_key_value_metadata(KeyValue::new(
        "ARROW:schema".to_string(),
        encode_arrow_schema(&full),
    ));
    let out = file
        .writer
        .into_inner()
        .map_err(ArchiveError::parquet(&tmp))?;
    let bytes = out.bytes;
    let crc = out.hasher.finalize();
    let early_error = out.writeback.and_then(|w| {
        // Wait for a writeback still running, then take its error, if any.
        while w.busy.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        w.error.lock().ok().and_then(|mut slot| slot.take())
    });
    let inner = out.inner.into_inner().map_err(|e| ArchiveError::Io {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    if sync {
        inner.sync_all().map_err(ArchiveError::io(&tmp))?;
    }
    if let Some(e) = early_error {
        return Err(ArchiveError::io(&tmp)(e));
    }
    drop(inner);
    super::crash_point("file_written");
    std::fs::rename(&tmp, path).map_err(ArchiveError::io(path))?;
    super::crash_point("file_renamed");
    Ok((file.rows, bytes, crc))
}

/// Column buffers of one file stream (a compartment's state or spikes in one chunk).
struct Stream {
    schema: SchemaRef,
    /// File ids of the parts opened so far, in order.
    parts: Vec<u64>,
    rows_in_part: u64,
    /// State: one entry per buffered sample (its rows are in `values`); `period`, `step`,
    /// `time_ms` and `neuron` stay empty.
    samples: Vec<SampleRun>,
    sample_rows: usize,
    period: Vec<u32>,
    step: Vec<i64>,
    time_ms: Vec<f64>,
    neuron: Vec<u32>,
    values: Vec<Vec<f64>>,
}

impl Stream {
    fn rows(&self) -> usize {
        self.step.len() + self.sample_rows
    }

    /// Allocates the value buffers once for a whole batch, so they never grow by copying.
    fn reserve(&mut self, rows: usize) {
        for v in &mut self.values {
            v.reserve(rows);
        }
    }
}

struct OpenChunk {
    set: u32,
    chunk: u32,
    /// Per compartment: state stream (when variables are recorded) and spike stream.
    streams: Vec<(Option<Stream>, Option<Stream>)>,
    infos: Vec<CompartmentInfo>,
}

/// Streams monitor chunks into a Parquet archive (see the module documentation).
pub struct ArchiveWriter {
    dir: PathBuf,
    options: ArchiveOptions,
    store: ManifestWriter,
    jobs: Option<SyncSender<Job>>,
    encoder: Option<JoinHandle<()>>,
    chunk: Option<OpenChunk>,
    next_id: u64,
    dt_ms: f64,
    time_scale: f64,
    /// Value buffers of state batches, reused once encoded.
    value_buffers: Pool<f64>,
}

impl std::fmt::Debug for ArchiveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("dir", &self.dir)
            .finish()
    }
}

impl ArchiveWriter {
    /// Name of compartment `index` of the open chunk (its index when no chunk is open).
    fn compartment_name(&self, index: usize) -> String {
        self.chunk
            .as_ref()
            .and_then(|c| c.infos.get(index))
            .map_or_else(|| index.to_string(), |info| format!("\"{}\"", info.name))
    }

    /// Creates an archive in `dir` (created if missing). Refuses a directory that already
    /// holds an archive unless `options.overwrite`.
    pub fn create(
        dir: impl AsRef<Path>,
        dt_ms: f64,
        compartments: Vec<String>,
        options: ArchiveOptions,
    ) -> Result<Self, ArchiveError> {
        if ZstdLevel::try_new(options.zstd_level).is_err() {
            return Err(ArchiveError::InvalidOption(format!(
                "zstd_level {} is outside zstd's levels; use 1 (the default) to 22",
                options.zstd_level
            )));
        }
        let dir = dir.as_ref().to_path_buf();
        let stem = if options.own_manifest {
            format!("manifest-run={}", options.run)
        } else {
            "manifest".to_string()
        };
        let exists = if options.own_manifest {
            dir.join(format!("{stem}.json")).exists()
        } else {
            Manifest::load(&dir).is_ok()
        };
        if exists {
            if !options.overwrite {
                return Err(ArchiveError::Exists { path: dir });
            }
            // Only the archive's own entries are removed: a single run's whole archive, or
            // one run of a sweep.
            let mut remove: Vec<PathBuf> = Vec::new();
            for name in &compartments {
                if options.own_manifest {
                    for kind in [Kind::State, Kind::Spikes] {
                        remove.push(
                            dir.join(name)
                                .join(kind.as_str())
                                .join(format!("run={}", options.run)),
                        );
                    }
                } else {
                    remove.push(dir.join(name));
                }
            }
            let stems: Vec<String> = if options.own_manifest {
                vec![stem.clone()]
            } else {
                std::fs::read_dir(&dir)
                    .map_err(ArchiveError::io(&dir))?
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        let stem = name
                            .strip_suffix(".json")
                            .or_else(|| name.strip_suffix(".journal"))?;
                        (stem == "manifest" || stem.starts_with("manifest-run="))
                            .then(|| stem.to_string())
                    })
                    .collect()
            };
            for stem in stems {
                remove.push(dir.join(format!("{stem}.json")));
                remove.push(dir.join(format!("{stem}.journal")));
            }
            for p in remove {
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).map_err(ArchiveError::io(&p))?;
                } else if p.exists() {
                    std::fs::remove_file(&p).map_err(ArchiveError::io(&p))?;
                }
            }
        }
        std::fs::create_dir_all(&dir).map_err(ArchiveError::io(&dir))?;
        let manifest = Manifest::new(
            dt_ms,
            options.seeds.clone(),
            options.description.clone(),
            compartments,
        );
        let store = ManifestWriter::create(&dir, &stem, manifest, options.sync)?;
        let (tx, rx) = sync_channel::<Job>(QUEUED_BATCHES);
        let encoder = std::thread::Builder::new()
            .name("neurorec-encoder".into())
            .spawn(move || encoder_loop(rx))
            .map_err(ArchiveError::io(&dir))?;
        let decimals = crate::sim::decimals_of(dt_ms);
        Ok(Self {
            dir,
            options,
            store,
            jobs: Some(tx),
            encoder: Some(encoder),
            chunk: None,
            next_id: 0,
            dt_ms,
            time_scale: 10f64.powi(decimals as i32),
            value_buffers: Pool::default(),
        })
    }

    /// The archive directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest with every change so far.
    pub fn manifest(&self) -> &Manifest {
        self.store.manifest()
    }

    fn send(&self, job: Job) -> Result<(), ArchiveError> {
        self.jobs
            .as_ref()
            .ok_or_else(|| ArchiveError::EncoderGone("the writer is finished".into()))?
            .send(job)
            .map_err(|_| ArchiveError::EncoderGone("the encoder thread has stopped".into()))
    }

    fn time_ms(&self, step: i64) -> f64 {
        let raw = step as f64 * self.dt_ms;
        (raw * self.time_scale).round() / self.time_scale
    }

    fn properties(&self, kind: Kind, variables: &[String]) -> WriterProperties {
        let level = ZstdLevel::try_new(self.options.zstd_level).unwrap_or_default();
        let mut b = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_write_batch_size(1 << 16)
            .set_max_row_group_row_count(None)
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None);
        if self.options.step_statistics {
            // Row-group statistics on `step` let readers skip row groups outside a window.
            b = b.set_column_statistics_enabled(ColumnPath::from("step"), EnabledStatistics::Chunk);
        }
        // Measured on 1e8-row tables (README): `period`, `step` and `time_ms` repeat one
        // value per sample, so plain values compress to almost nothing under zstd and cost
        // less CPU than delta or dictionary encoding; delta for the neuron ramp;
        // byte-stream-split + zstd for the recorded values.
        for col in ["period", "step", "time_ms"] {
            b = b.set_column_encoding(ColumnPath::from(col), Encoding::PLAIN);
        }
        b = b.set_column_encoding(ColumnPath::from("neuron"), Encoding::DELTA_BINARY_PACKED);
        if kind == Kind::State {
            for col in variables {
                b = b
                    .set_column_dictionary_enabled(ColumnPath::from(col.as_str()), false)
                    .set_column_encoding(
                        ColumnPath::from(col.as_str()),
                        Encoding::BYTE_STREAM_SPLIT,
                    );
            }
        }
        b.build()
    }

    fn schema(&self, kind: Kind, info: &CompartmentInfo) -> SchemaRef {
        let mut fields = vec![
            Field::new("period", DataType::UInt32, false),
            Field::new("step", DataType::Int64, false),
            Field::new("time_ms", DataType::Float64, false),
            Field::new("neuron", DataType::UInt32, false),
        ];
        if kind == Kind::State {
            let value_type = match self.options.storage {
                ValueStorage::F64 => DataType::Float64,
                ValueStorage::F32 => DataType::Float32,
            };
            fields.extend(
                info.variables
                    .iter()
                    .map(|v| Field::new(v, value_type.clone(), false)),
            );
        }
        // What is known when the file starts also goes into the Arrow schema metadata.
        let metadata: HashMap<String, String> = [
            ("neurorec.format_version", FORMAT_VERSION.to_string()),
            ("neurorec.compartment", info.name.clone()),
            ("neurorec.kind", kind.as_str().to_string()),
            ("neurorec.dt_ms", self.dt_ms.to_string()),
            ("neurorec.period_ms", info.period_ms.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Arc::new(Schema::new(fields).with_metadata(metadata))
    }

    fn new_stream(&self, kind: Kind, info: &CompartmentInfo) -> Stream {
        let variables = if kind == Kind::State {
            info.variables.len()
        } else {
            0
        };
        let mut stream = Stream {
            schema: self.schema(kind, info),
            parts: Vec::new(),
            rows_in_part: 0,
            samples: Vec::new(),
            sample_rows: 0,
            period: Vec::new(),
            step: Vec::new(),
            time_ms: Vec::new(),
            neuron: Vec::new(),
            values: vec![Vec::new(); variables],
        };
        if kind == Kind::State {
            stream.reserve(self.options.batch_rows + info.size);
        }
        stream
    }

    fn open_part(&mut self, compartment: usize, kind: Kind) -> Result<(), ArchiveError> {
        let id = self.next_id;
        self.next_id += 1;
        let chunk = self
            .chunk
            .as_ref()
            .ok_or_else(|| ArchiveError::EncoderGone("no open chunk".into()))?;
        let info = &chunk.infos[compartment];
        let stream = match kind {
            Kind::State => chunk.streams[compartment].0.as_ref(),
            Kind::Spikes => chunk.streams[compartment].1.as_ref(),
        }
        .ok_or_else(|| ArchiveError::EncoderGone("no such stream".into()))?;
        let part = stream.parts.len() as u32;
        let rel = chunk_dir(&info.name, kind, self.options.run, chunk.set, chunk.chunk);
        let tmp = self.dir.join(rel).join(temp_part_name(part));
        let schema = Arc::clone(&stream.schema);
        let props = Box::new(self.properties(kind, &info.variables));
        self.send(Job::Open {
            id,
            tmp,
            schema,
            props,
            row_group_rows: self.options.row_group_rows,
            writeback_bytes: self.options.sync.then_some(self.options.writeback_bytes),
            state: (kind == Kind::State).then(|| {
                (
                    self.options.zstd_level,
                    self.options.step_statistics,
                    self.options.storage == ValueStorage::F32,
                    self.value_buffers.clone(),
                )
            }),
        })?;
        let chunk = self
            .chunk
            .as_mut()
            .ok_or_else(|| ArchiveError::EncoderGone("no open chunk".into()))?;
        let stream = match kind {
            Kind::State => chunk.streams[compartment].0.as_mut(),
            Kind::Spikes => chunk.streams[compartment].1.as_mut(),
        }
        .ok_or_else(|| ArchiveError::EncoderGone("no such stream".into()))?;
        stream.parts.push(id);
        stream.rows_in_part = 0;
        Ok(())
    }

    /// Sends the buffered rows of a stream to the encoder as one record batch.
    fn flush_stream(&mut self, compartment: usize, kind: Kind) -> Result<(), ArchiveError> {
        let pool = self.value_buffers.clone();
        let part_rows = self.options.part_rows;
        let needs_part = {
            let stream = self.stream_mut(compartment, kind)?;
            if stream.rows() == 0 {
                return Ok(());
            }
            stream.parts.is_empty() || stream.rows_in_part >= part_rows
        };
        if needs_part {
            self.open_part(compartment, kind)?;
        }
        let stream = self.stream_mut(compartment, kind)?;
        let rows = stream.rows();
        let mut columns: Vec<ArrayRef> = Vec::new();
        if kind == Kind::Spikes {
            columns = vec![
                Arc::new(UInt32Array::from(std::mem::take(&mut stream.period))),
                Arc::new(Int64Array::from(std::mem::take(&mut stream.step))),
                Arc::new(Float64Array::from(std::mem::take(&mut stream.time_ms))),
                Arc::new(UInt32Array::from(std::mem::take(&mut stream.neuron))),
            ];
        }
        let samples = std::mem::take(&mut stream.samples);
        stream.sample_rows = 0;
        // Value buffers come back from the encoder once encoded, so batches reuse memory.
        let values: Vec<Vec<f64>> = stream
            .values
            .iter_mut()
            .map(|v| std::mem::replace(v, pool.get(rows + rows / 8)))
            .collect();
        stream.rows_in_part += rows as u64;
        let id = *stream
            .parts
            .last()
            .ok_or_else(|| ArchiveError::EncoderGone("no part".into()))?;
        self.send(Job::Batch {
            id,
            batch: BatchData {
                columns,
                samples,
                values,
            },
        })
    }

    fn stream_mut(&mut self, compartment: usize, kind: Kind) -> Result<&mut Stream, ArchiveError> {
        let chunk = self
            .chunk
            .as_mut()
            .ok_or_else(|| ArchiveError::EncoderGone("no open chunk".into()))?;
        match kind {
            Kind::State => chunk.streams[compartment].0.as_mut(),
            Kind::Spikes => chunk.streams[compartment].1.as_mut(),
        }
        .ok_or_else(|| ArchiveError::EncoderGone("no such stream".into()))
    }

    fn close_chunk(&mut self, end: &ChunkEnd<'_>) -> Result<(), ArchiveError> {
        let Some(chunk) = self.chunk.as_ref() else {
            return Ok(());
        };
        let n = chunk.infos.len();
        let kinds: Vec<(usize, Kind)> = (0..n)
            .flat_map(|c| {
                let (s, k) = &chunk.streams[c];
                s.as_ref()
                    .map(|_| (c, Kind::State))
                    .into_iter()
                    .chain(k.as_ref().map(|_| (c, Kind::Spikes)))
            })
            .collect();
        if !end.keep {
            let ids: Vec<u64> = kinds
                .iter()
                .filter_map(|&(c, kind)| self.stream_mut(c, kind).ok().map(|s| s.parts.clone()))
                .flatten()
                .collect();
            for id in ids {
                self.send(Job::Abort { id })?;
            }
            self.chunk = None;
            return self.store.record(JournalEntry::Remove {
                run: self.options.run,
                set: end.set,
                chunk: end.chunk,
            });
        }
        for &(c, kind) in &kinds {
            self.flush_stream(c, kind)?;
            if self.stream_mut(c, kind)?.parts.is_empty() {
                // Every kept chunk has a file per compartment and kind, rows or not, so the
                // period table is always on disk.
                self.open_part(c, kind)?;
            }
        }
        let mut pending = Vec::new();
        for &(c, kind) in &kinds {
            let parts = self.stream_mut(c, kind)?.parts.clone();
            let chunk = self
                .chunk
                .as_ref()
                .ok_or_else(|| ArchiveError::EncoderGone("no open chunk".into()))?;
            let info = chunk.infos[c].clone();
            let times = end.times.compartment(&info.name).cloned().ok_or_else(|| {
                ArchiveError::Corrupt {
                    path: self.dir.clone(),
                    what: format!("no recording times for {}", info.name),
                }
            })?;
            let rel_dir = chunk_dir(&info.name, kind, self.options.run, end.set, end.chunk);
            for (part, id) in parts.iter().enumerate() {
                let meta = FileMeta {
                    format_version: FORMAT_VERSION,
                    tool_version: env!("CARGO_PKG_VERSION").into(),
                    kind,
                    compartment: info.name.clone(),
                    run: self.options.run,
                    set: end.set,
                    chunk: end.chunk,
                    part: part as u32,
                    parts: parts.len() as u32,
                    neurons: info.size,
                    dt_ms: self.dt_ms,
                    period_ms: info.period_ms,
                    period_steps: info.period_steps,
                    variables: if kind == Kind::State {
                        info.variables.clone()
                    } else {
                        Vec::new()
                    },
                    value_type: match self.options.storage {
                        ValueStorage::F64 => "f64".into(),
                        ValueStorage::F32 => "f32".into(),
                    },
                    parameters: compact_parameters(&end.parameters[c]),
                    periods: period_rows(&times),
                    chunk_first_step: end.times.first_step,
                    chunk_end_step: end.times.end_step,
                    chunk_skipped_steps: end.times.skipped_steps,
                    simulated_ms: self.time_ms(end.times.end_step - end.times.first_step),
                };
                let kvs = meta.to_key_values();
                let rel = rel_dir.join(part_name(part as u32));
                let (tx, rx) = std::sync::mpsc::channel();
                self.send(Job::Close {
                    id: *id,
                    meta: kvs,
                    path: self.dir.join(&rel),
                    sync: self.options.sync,
                    reply: tx,
                })?;
                pending.push((rx, rel, info.name.clone(), kind, part as u32));
            }
        }
        let mut files = Vec::new();
        let mut first_error = None;
        let mut dirs = Vec::new();
        for (rx, rel, compartment, kind, part) in pending {
            match rx.recv() {
                Ok(Ok((rows, bytes, crc))) => {
                    if let Some(parent) = self.dir.join(&rel).parent() {
                        dirs.push(parent.to_path_buf());
                    }
                    files.push(FileEntry {
                        path: rel.to_string_lossy().replace('\\', "/"),
                        compartment,
                        kind,
                        part,
                        rows,
                        bytes,
                        crc32: format!("{crc:08x}"),
                    })
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(ArchiveError::EncoderGone(
                        "no reply from the encoder".into(),
                    ));
                }
            }
        }
        self.chunk = None;
        if let Some(e) = first_error {
            return Err(e);
        }
        if self.options.sync {
            dirs.sort();
            dirs.dedup();
            for d in dirs {
                sync_dir(&d)?;
            }
        }
        self.store.record(JournalEntry::Chunk(ChunkEntry {
            run: self.options.run,
            set: end.set,
            chunk: end.chunk,
            status: ChunkStatus::Complete,
            first_step: end.times.first_step,
            end_step: Some(end.times.end_step),
            skipped_steps: end.times.skipped_steps,
            files,
            periods: end
                .times
                .compartments
                .iter()
                .map(|c| CompartmentPeriods {
                    compartment: c.name.clone(),
                    period_steps: c.period_steps,
                    pairs: c.pairs.clone(),
                })
                .collect(),
        }))
    }

    /// Stops the encoder thread and replaces the manifest with its final state. Chunks not
    /// ended stay in the manifest as `writing`.
    pub fn finish(mut self) -> Result<Manifest, ArchiveError> {
        self.stop_encoder();
        self.store.checkpoint()?;
        Ok(self.store.manifest().clone())
    }

    fn stop_encoder(&mut self) {
        self.jobs.take();
        if let Some(handle) = self.encoder.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        self.stop_encoder();
    }
}

impl Sink for ArchiveWriter {
    /// The final manifest.
    type Output = Manifest;
    fn finish(self) -> Result<Manifest, SinkError> {
        Ok(ArchiveWriter::finish(self)?)
    }
    fn begin_chunk(&mut self, start: &ChunkStart<'_>) -> Result<(), SinkError> {
        let streams = start
            .compartments
            .iter()
            .map(|info| {
                (
                    (!info.variables.is_empty()).then(|| self.new_stream(Kind::State, info)),
                    info.spikes.then(|| self.new_stream(Kind::Spikes, info)),
                )
            })
            .collect();
        self.chunk = Some(OpenChunk {
            set: start.set,
            chunk: start.chunk,
            streams,
            infos: start.compartments.to_vec(),
        });
        self.store.record(JournalEntry::Chunk(ChunkEntry {
            run: self.options.run,
            set: start.set,
            chunk: start.chunk,
            status: ChunkStatus::Writing,
            first_step: start.first_step,
            end_step: None,
            skipped_steps: 0,
            files: Vec::new(),
            periods: Vec::new(),
        }))?;
        Ok(())
    }

    fn state(&mut self, compartment: usize, sample: StateSample<'_>) -> Result<(), SinkError> {
        let time_ms = self.time_ms(sample.step);
        let batch_rows = self.options.batch_rows;
        let n = sample.values(0).len();
        if n == 0 {
            return Ok(());
        }
        let rows = u32::try_from(n).map_err(|_| {
            ArchiveError::InvalidOption(format!(
                "compartment {} records {n} neurons in one sample, more than the archive's u32 `neuron` column holds (2^32 - 1); split the population",
                self.compartment_name(compartment)
            ))
        })?;
        let stream = self.stream_mut(compartment, Kind::State)?;
        stream.samples.push(SampleRun {
            period: sample.period,
            step: sample.step,
            time_ms,
            rows,
        });
        stream.sample_rows += n;
        for (j, column) in stream.values.iter_mut().enumerate() {
            column.extend_from_slice(sample.values(j));
        }
        if stream.rows() >= batch_rows {
            self.flush_stream(compartment, Kind::State)?;
        }
        Ok(())
    }

    fn spikes(
        &mut self,
        compartment: usize,
        step: i64,
        period: u32,
        neurons: &[u32],
    ) -> Result<(), SinkError> {
        let time_ms = self.time_ms(step);
        let batch_rows = self.options.batch_rows;
        let stream = self.stream_mut(compartment, Kind::Spikes)?;
        let n = neurons.len();
        stream.period.extend(std::iter::repeat_n(period, n));
        stream.step.extend(std::iter::repeat_n(step, n));
        stream.time_ms.extend(std::iter::repeat_n(time_ms, n));
        stream.neuron.extend_from_slice(neurons);
        if stream.rows() >= batch_rows {
            self.flush_stream(compartment, Kind::Spikes)?;
        }
        Ok(())
    }

    fn end_chunk(&mut self, end: &ChunkEnd<'_>) -> Result<(), SinkError> {
        self.close_chunk(end)?;
        Ok(())
    }

    fn end_set(&mut self, set: u32) -> Result<(), SinkError> {
        let run = self.options.run;
        let chunks = self
            .store
            .manifest()
            .chunks
            .iter()
            .filter(|c| c.run == run && c.set == set && c.status == ChunkStatus::Complete)
            .count() as u32;
        self.store
            .record(JournalEntry::Set(SetEntry { run, set, chunks }))?;
        self.store.checkpoint()?;
        Ok(())
    }
}
