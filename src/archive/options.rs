//! Settings of an archive writer, and what they imply for a run's size on disk and in
//! memory (the `--dry-run` estimate reads them from here).

/// Record batches the simulating thread may queue for the encoder thread before it waits.
pub(crate) const QUEUED_BATCHES: usize = 2;

/// Bytes per row of the columns every row has: `period` (4), `step` (8), `time_ms` (8),
/// `neuron` (4).
const KEY_BYTES_PER_ROW: u64 = 24;

/// Bytes on disk per row of a spikes file (measured; the four key columns, PLAIN and zstd).
const SPIKE_BYTES_PER_ROW: f64 = 24.0;

/// Bytes on disk per row of a state file for its key columns (dictionary and delta encoded:
/// about one byte, measured).
const STATE_KEY_BYTES_PER_ROW: f64 = 1.0;

/// How recorded values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueStorage {
    /// 64-bit floats: lossless (the default).
    #[default]
    F64,
    /// 32-bit floats: half the size, rounded to about 7 significant digits (opt-in).
    F32,
}

/// Settings of an [`ArchiveWriter`].
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// Run index (`run=<r>`), 0 for a single run.
    pub run: u32,
    /// Rows per record batch handed to the encoder; bounds the memory of buffered samples.
    pub batch_rows: usize,
    /// Rows per row group; bounds the memory of encoded, not yet written data.
    pub row_group_rows: usize,
    /// Rows per file before a chunk rolls over into the next part.
    pub part_rows: u64,
    /// f64 (lossless) or f32 values.
    pub storage: ValueStorage,
    /// zstd level of every column.
    pub zstd_level: i32,
    /// fsync files and the manifest before they are renamed (crash safety).
    pub sync: bool,
    /// With `sync`, a file is also written back to disk in the background every this many
    /// bytes while it is written, so the fsync at its close has little left to wait for.
    pub writeback_bytes: u64,
    /// Replace an existing archive (of this run, with `own_manifest`) instead of refusing.
    pub overwrite: bool,
    /// Projections whose connectivity the run writes afterwards
    /// (`DIR/<projection>/synapses/run=<r>/`): checked for files of others before anything
    /// is written.
    pub projections: Vec<String>,
    /// Keep this run's manifest in its own file (`manifest-run=<r>.json`), so the runs of a
    /// sweep, in one process or in many (shards of a job array), fill one archive.
    pub own_manifest: bool,
    /// Row-group statistics (min/max) on `step`, so time windows skip row groups.
    pub step_statistics: bool,
    /// Seeds recorded in the manifest.
    pub seeds: serde_json::Value,
    /// The model and monitor description recorded in the manifest.
    pub description: serde_json::Value,
    /// The archive's lock, when the caller took it (to hold the archive after the writer
    /// finished); the writer takes it itself otherwise.
    pub lock: Option<std::sync::Arc<super::ArchiveLock>>,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        Self {
            run: 0,
            batch_rows: 1 << 17,
            row_group_rows: 1 << 19,
            part_rows: 1 << 30,
            storage: ValueStorage::F64,
            zstd_level: 1,
            sync: true,
            writeback_bytes: 64 << 20,
            overwrite: false,
            own_manifest: false,
            projections: Vec::new(),
            step_statistics: true,
            seeds: serde_json::json!({}),
            description: serde_json::json!({}),
            lock: None,
        }
    }
}

impl ValueStorage {
    /// Bytes a recorded value takes in memory before it is encoded.
    pub fn raw_bytes(self) -> u64 {
        8
    }

    /// Bytes a recorded value takes on disk, as measured on Izhikevich2007 recordings
    /// (README, Performance): 0.76x of 8 bytes lossless, 0.27x of 8 bytes as f32
    /// (byte-stream-split and zstd level 1).
    pub fn disk_bytes(self) -> f64 {
        match self {
            ValueStorage::F64 => 8.0 * 0.76,
            ValueStorage::F32 => 8.0 * 0.27,
        }
    }
}

impl ArchiveOptions {
    /// Expected bytes on disk of one compartment's files.
    pub fn expected_bytes(&self, state_rows: u64, variables: usize, spike_rows: u64) -> u64 {
        let state = state_rows as f64
            * (variables as f64 * self.storage.disk_bytes() + STATE_KEY_BYTES_PER_ROW);
        (state + spike_rows as f64 * SPIKE_BYTES_PER_ROW) as u64
    }

    /// Memory the writer holds at most for one compartment of `neurons` with `variables`
    /// recorded: the batch being filled on the simulating thread (which may overrun
    /// `batch_rows` by one sample), the queued batches and the one being encoded, and the
    /// encoded columns of two row groups (one being written, one being encoded).
    pub fn expected_memory(&self, neurons: usize, variables: usize) -> u64 {
        let row = KEY_BYTES_PER_ROW + self.storage.raw_bytes() * variables as u64;
        let batches = (QUEUED_BATCHES + 2) as u64;
        let batch = (self.batch_rows as u64 + neurons as u64) * row * batches;
        let encoded = self.row_group_rows as u64 * 16 * 2;
        batch + encoded
    }
}
