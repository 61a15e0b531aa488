//! The streaming writer: an [`ArchiveWriter`] is a monitor [`Sink`] that buffers samples
//! (state: one entry per sample plus the value columns; spikes: Arrow columns), cuts them
//! into record batches of about `batch_rows` rows and hands each batch to an encoder thread.
//! The encoder writes each file under a temporary name; each row group is encoded on a
//! worker thread of its own (state files by [`super::encode::StateEncoder`], spikes files by
//! the Arrow column writers) while the next one fills, a row group closes every
//! `row_group_rows` rows (so memory stays bounded) and, when the chunk ends, the period
//! table is appended to the footer, the file synced and renamed. Every chunk's begin and end is recorded durably in the
//! manifest's journal at once; the manifest itself is replaced atomically now and then.
//!
//! - this file: the writer, its streams of buffered samples, and the [`Sink`] lifecycle;
//! - `encoder`: the encoder thread and its row-group workers;
//! - `file`: byte counting, checksums, writeback and sync of the files being written;
//! - `commit`: closing a chunk and recording it in the manifest.

mod commit;
mod encoder;
mod file;
mod prepare;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow_array::{ArrayRef, Float64Array, Int64Array, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use self::encoder::{encoder_loop, BatchData, Job, StateSetup};
use super::encode::{Pool, SampleRun};
use super::manifest::{
    ChunkEntry, ChunkStatus, JournalEntry, Manifest, ManifestWriter, RunStatus, SetEntry,
};
use super::options::QUEUED_BATCHES;
pub use super::options::{ArchiveOptions, ValueStorage};
use super::{
    chunk_dir, part_name, staged_path, ArchiveError, ArchiveLock, Kind, LockScope, FORMAT_VERSION,
};
use crate::monitor::{ChunkEnd, ChunkStart, CompartmentInfo, Sink, SinkError, StateSample};

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

/// Removes run `run` of the sweep archive at `dir` (what its manifest lists, its staging
/// leftovers), holding that run's lock: for `--force` when a sweep with fewer runs replaces
/// an earlier one.
pub fn remove_run(dir: &Path, run: u32) -> Result<(), ArchiveError> {
    let _lock = ArchiveLock::acquire(dir, LockScope::Run(run))?;
    let options = ArchiveOptions {
        run,
        own_manifest: true,
        overwrite: true,
        ..Default::default()
    };
    prepare::prepare(dir, &format!("manifest-run={run}"), &[], &options)
}

/// Streams monitor chunks into a Parquet archive (see the module documentation).
pub struct ArchiveWriter {
    dir: PathBuf,
    /// This writer's lock on the archive (shared with the caller when it gave one).
    lock: Arc<ArchiveLock>,
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
        let scope = if options.own_manifest {
            LockScope::Run(options.run)
        } else {
            LockScope::Archive
        };
        // The lock comes first: nothing is checked or written before it is held.
        let lock = match &options.lock {
            Some(lock)
                if lock.dir() == dir
                    && lock.run() == options.own_manifest.then_some(options.run) =>
            {
                Arc::clone(lock)
            }
            Some(lock) => {
                return Err(ArchiveError::InvalidOption(format!(
                    "the lock given is for {} (run {:?}), not for {} (run {:?})",
                    lock.dir().display(),
                    lock.run(),
                    dir.display(),
                    options.own_manifest.then_some(options.run)
                )))
            }
            None => Arc::new(ArchiveLock::acquire(&dir, scope)?),
        };
        let stem = if options.own_manifest {
            format!("manifest-run={}", options.run)
        } else {
            "manifest".to_string()
        };
        prepare::prepare(&dir, &stem, &compartments, &options)?;
        std::fs::create_dir_all(&dir).map_err(ArchiveError::io(&dir))?;
        let mut manifest = Manifest::new(
            dt_ms,
            options.seeds.clone(),
            options.description.clone(),
            compartments,
        );
        manifest.set_run_status(options.run, RunStatus::Running);
        let store = ManifestWriter::create(&dir, &stem, manifest, options.sync)?;
        let (tx, rx) = sync_channel::<Job>(QUEUED_BATCHES);
        let encoder = std::thread::Builder::new()
            .name("neurorec-encoder".into())
            .spawn(move || encoder_loop(rx))
            .map_err(ArchiveError::io(&dir))?;
        let decimals = crate::sim::decimals_of(dt_ms);
        Ok(Self {
            dir,
            lock,
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
        for col in ["neuron", "post", "pre"] {
            b = b.set_column_encoding(ColumnPath::from(col), Encoding::DELTA_BINARY_PACKED);
        }
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
        ];
        if info.projection.is_some() && kind == Kind::State {
            fields.push(Field::new("post", DataType::UInt32, false));
            fields.push(Field::new("pre", DataType::UInt32, false));
        } else {
            fields.push(Field::new("neuron", DataType::UInt32, false));
        }
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
        if let Some(&previous) = stream.parts.last() {
            // The previous part gets no more rows: its buffers go, its metadata waits.
            self.send(Job::Seal { id: previous })?;
        }
        let rel = chunk_dir(&info.name, kind, self.options.run, chunk.set, chunk.chunk);
        let tmp = self.dir.join(staged_path(&rel.join(part_name(part))));
        let schema = Arc::clone(&stream.schema);
        let props = Box::new(self.properties(kind, &info.variables));
        self.send(Job::Open {
            id,
            tmp,
            schema,
            props,
            row_group_rows: self.options.row_group_rows,
            writeback_bytes: self.options.sync.then_some(self.options.writeback_bytes),
            state: (kind == Kind::State).then(|| StateSetup {
                zstd_level: self.options.zstd_level,
                step_statistics: self.options.step_statistics,
                f32_values: self.options.storage == ValueStorage::F32,
                values: self.value_buffers.clone(),
                keys: info.projection.as_ref().map(|p| Arc::clone(&p.synapses)),
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

    /// Stops the encoder thread and replaces the manifest with its final state. Chunks not
    /// ended stay in the manifest as `writing`.
    pub fn finish(mut self) -> Result<Manifest, ArchiveError> {
        self.stop_encoder();
        if !self.options.own_manifest {
            // Dropped chunks leave empty directories; a single run holds the archive alone.
            super::prune_empty_dirs(&self.dir.join(super::STAGING));
        }
        self.store
            .set_run_status(self.options.run, RunStatus::Complete);
        self.store.checkpoint()?;
        Ok(self.store.manifest().clone())
    }

    /// The writer's lock on the archive: a caller that keeps a clone holds the archive after
    /// [`ArchiveWriter::finish`] (to add figures, say) without another writer slipping in.
    pub fn lock(&self) -> Arc<ArchiveLock> {
        Arc::clone(&self.lock)
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
