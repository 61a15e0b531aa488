//! Column chunks written by hand for the columns of a `state` file that follow the sample
//! structure: every sample puts the same `period`, `step` and `time_ms` on each of its rows
//! and counts `neuron` up from 0. The generic Arrow column writers spend most of the
//! archive's CPU time copying, hashing and compressing those repeated values row by row
//! (measured: 1.1-1.3 s of 3.2-3.6 s for 1e8 rows); here they are encoded from one entry per
//! sample, in standard Parquet encodings every reader understands:
//!
//! - `period`, `step`, `time_ms`: RLE_DICTIONARY (a dictionary page of the distinct values in
//!   order and one RLE run per value) when runs average at least [`MIN_DICTIONARY_RUN`] rows,
//!   otherwise PLAIN (e.g. a population of one neuron, where every row has its own step);
//! - `neuron`: DELTA_BINARY_PACKED (blocks of 128, 4 miniblocks), which turns the ramp
//!   0, 1, ..., n-1 into zero-width blocks;
//! - the recorded variables: BYTE_STREAM_SPLIT, one page per record batch (at most
//!   `page_rows`), transposed 8 values at a time, without the intermediate copies of the
//!   generic writer.
//!
//! Pages are zstd-compressed with one reused context per row group; page, chunk and value
//! buffers are reused, so steady-state encoding allocates (and the kernel zeroes) no memory.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask, PageType, ZstdLevel};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// Runs shorter than this on average are written PLAIN instead of as a dictionary.
pub(super) const MIN_DICTIONARY_RUN: usize = 8;
/// Rows per data page of a hand-written column.
pub(super) const PAGE_ROWS: usize = 1 << 20;

/// The rows of one sample (state) as the encoder receives them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SampleRun {
    pub period: u32,
    pub step: i64,
    pub time_ms: f64,
    /// Rows of this sample (the recorded neurons, numbered from 0).
    pub rows: u32,
}

/// A column chunk encoded in memory, ready for `SerializedRowGroupWriter::append_column`.
pub(super) struct EncodedColumn {
    pub data: Bytes,
    pub close: ColumnCloseResult,
}

/// A bounded pool of reusable buffers, shared between threads.
pub(super) struct Pool<T>(Arc<Mutex<Vec<Vec<T>>>>);

impl<T> Clone for Pool<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T> Pool<T> {
    const KEEP: usize = 64;

    /// An empty buffer with at least `capacity`: the smallest free one that is large
    /// enough, else the largest free one grown, else a new one.
    pub fn get(&self, capacity: usize) -> Vec<T> {
        let mut v = self
            .0
            .lock()
            .ok()
            .and_then(|mut p| {
                let fit = p
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.capacity() >= capacity)
                    .min_by_key(|(_, b)| b.capacity())
                    .or_else(|| p.iter().enumerate().max_by_key(|(_, b)| b.capacity()))
                    .map(|(i, _)| i)?;
                Some(p.swap_remove(fit))
            })
            .unwrap_or_default();
        v.clear();
        v.reserve(capacity);
        v
    }

    pub fn put(&self, v: Vec<T>) {
        if let Ok(mut p) = self.0.lock() {
            if p.len() < Self::KEEP {
                p.push(v);
            }
        }
    }

    /// Returns the buffer of `bytes` to the pool when nothing else holds it.
    pub fn put_bytes(&self, bytes: Bytes)
    where
        T: Copy,
        Vec<T>: From<bytes::BytesMut>,
    {
        if let Ok(m) = bytes.try_into_mut() {
            self.put(Vec::from(m));
        }
    }
}

/// Reusable (zstd context, page buffer) pairs.
pub(super) type Workspaces = Arc<Mutex<Vec<(Codec, Vec<u8>)>>>;

/// How the columns of a state file are written: `period`, `step`, `time_ms`, `neuron` (a
/// projection's: `post`, `pre`), then one column per recorded variable.
#[derive(Clone)]
pub(super) struct StateColumns {
    /// Descriptors of all columns, in schema order.
    pub descr: Vec<ColumnDescPtr>,
    pub zstd_level: i32,
    /// Row-group min/max statistics on `step`.
    pub step_statistics: bool,
    /// Rows per data page ([`PAGE_ROWS`]; smaller in tests).
    pub page_rows: usize,
    /// Rows a row group is expected to hold (sizes the buffer of a value column chunk).
    pub row_group_rows: usize,
    /// Values stored as f32 (opt-in) instead of f64.
    pub f32_values: bool,
    /// Column chunk buffers, reused once appended to the file.
    pub chunks: Pool<u8>,
    /// zstd contexts and page buffers of finished row groups, for the next ones (a fresh
    /// zstd context allocates its workspace, and the kernel zeroes it, every time).
    pub workspaces: Workspaces,
    /// A projection's state: the `(post, pre)` of the rows of every sample, written as the
    /// columns `post` and `pre` in place of `neuron`.
    pub keys: Option<Arc<[(u32, u32)]>>,
}

impl StateColumns {
    /// Number of columns before the values: 4, or 5 for a projection.
    fn leading_columns(&self) -> usize {
        if self.keys.is_some() {
            5
        } else {
            4
        }
    }
}

/// Encodes one row group of a state file from its record batches.
pub(super) struct StateEncoder<'a> {
    cfg: &'a StateColumns,
    codec: Codec,
    runs: Vec<SampleRun>,
    values: Vec<ChunkBuilder>,
    value_rows: u64,
    scratch: Vec<u8>,
}

impl<'a> StateEncoder<'a> {
    pub fn new(cfg: &'a StateColumns) -> Result<Self, ParquetError> {
        if cfg.descr.len() < cfg.leading_columns() {
            return Err(ParquetError::General(
                "a state file needs period, step, time_ms and neuron (or post and pre)".into(),
            ));
        }
        // zstd keeps most value bytes (the mantissas are noise): reserve about their size.
        let width = if cfg.f32_values { 4 } else { 8 };
        let estimate = cfg.row_group_rows.min(1 << 24) * width + (64 << 10);
        let values = cfg.descr[cfg.leading_columns()..]
            .iter()
            .map(|d| ChunkBuilder::new(d, cfg.zstd_level, None, cfg.chunks.get(estimate)))
            .collect();
        let reused = cfg.workspaces.lock().ok().and_then(|mut w| w.pop());
        let (codec, scratch) = match reused {
            Some(ws) => ws,
            None => (Codec::new(cfg.zstd_level)?, Vec::new()),
        };
        Ok(Self {
            cfg,
            codec,
            runs: Vec::new(),
            values,
            value_rows: 0,
            scratch,
        })
    }

    /// Adds one record batch: its samples and, per variable, the values of its rows.
    pub fn push(&mut self, samples: &[SampleRun], values: &[Vec<f64>]) -> Result<(), ParquetError> {
        let rows: usize = samples.iter().map(|s| s.rows as usize).sum();
        if values.len() != self.values.len() || values.iter().any(|v| v.len() != rows) {
            return Err(ParquetError::General(format!(
                "a batch of {rows} rows has {} value columns of {:?} rows, expected {}",
                values.len(),
                values.iter().map(Vec::len).collect::<Vec<_>>(),
                self.values.len()
            )));
        }
        let page_rows = self.cfg.page_rows.max(1);
        for (column, v) in self.values.iter_mut().zip(values) {
            for piece in v.chunks(page_rows) {
                if self.cfg.f32_values {
                    byte_stream_split_f32(piece, &mut self.scratch);
                } else {
                    byte_stream_split_f64(piece, &mut self.scratch);
                }
                column.data_page(
                    &mut self.codec,
                    &self.scratch,
                    piece.len(),
                    Encoding::BYTE_STREAM_SPLIT,
                )?;
            }
        }
        self.runs.extend_from_slice(samples);
        self.value_rows += rows as u64;
        Ok(())
    }

    /// Encodes the leading columns and closes every column chunk, in schema order.
    pub fn finish(mut self) -> Result<Vec<EncodedColumn>, ParquetError> {
        let mut out = self.leading()?;
        for column in std::mem::take(&mut self.values) {
            out.push(column.finish(self.value_rows)?);
        }
        if let Ok(mut w) = self.cfg.workspaces.lock() {
            if w.len() < 4 {
                w.push((self.codec, self.scratch));
            }
        }
        Ok(out)
    }

    /// `period`, `step`, `time_ms` and `neuron` (or `post` and `pre`) of the row group.
    fn leading(&mut self) -> Result<Vec<EncodedColumn>, ParquetError> {
        let runs = &self.runs;
        let rows: u64 = runs.iter().map(|r| r.rows as u64).sum();
        let [period_d, step_d, time_d, neuron_d] = [0, 1, 2, 3].map(|i| &self.cfg.descr[i]);
        let period = RunColumn::new(runs, |r| r.period, |a, b| a == b);
        let step = RunColumn::new(runs, |r| r.step, |a, b| a == b);
        // Bitwise: 0.0 and -0.0 stay apart.
        let time_ms = RunColumn::new(runs, |r| r.time_ms, |a, b| a.to_bits() == b.to_bits());
        let step_stats = match (
            self.cfg.step_statistics,
            step.values.first(),
            step.values.last(),
        ) {
            (true, Some(&first), Some(&last)) => {
                let (min, max) = step
                    .values
                    .iter()
                    .fold((first, last), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                Some(Statistics::Int64(
                    ValueStatistics::new(Some(min), Some(max), None, Some(0), false)
                        .with_backwards_compatible_min_max(true),
                ))
            }
            _ => None,
        };
        let cfg = self.cfg;
        let codec = &mut self.codec;
        let chunk = |d: &ColumnDescPtr, stats| {
            ChunkBuilder::new(d, cfg.zstd_level, stats, cfg.chunks.get(64 << 10))
        };
        let page_rows = cfg.page_rows.max(1);
        let mut out = vec![
            period.encode(chunk(period_d, None), codec, rows, page_rows, |v, out| {
                out.extend_from_slice(&v.to_le_bytes())
            })?,
            step.encode(
                chunk(step_d, step_stats),
                codec,
                rows,
                page_rows,
                |v, out| out.extend_from_slice(&v.to_le_bytes()),
            )?,
            time_ms.encode(chunk(time_d, None), codec, rows, page_rows, |v, out| {
                out.extend_from_slice(&v.to_le_bytes())
            })?,
        ];
        match &cfg.keys {
            None => out.push(encode_neurons(
                chunk(neuron_d, None),
                codec,
                runs,
                rows,
                page_rows,
            )?),
            Some(keys) => {
                let pre_d = &cfg.descr[4];
                let mut keyed = |d, side: fn(&(u32, u32)) -> u32| {
                    encode_rows(
                        chunk(d, None),
                        codec,
                        runs,
                        rows,
                        page_rows,
                        |a, b, page| {
                            page.extend(keys[a as usize..b as usize].iter().map(|k| side(k) as i32))
                        },
                    )
                };
                out.push(keyed(neuron_d, |k| k.0)?);
                out.push(keyed(pre_d, |k| k.1)?);
            }
        }
        Ok(out)
    }
}

/// zstd with one reused context and output buffer (and a reused buffer of integers).
pub(super) struct Codec {
    compressor: zstd::bulk::Compressor<'static>,
    out: Vec<u8>,
    ints: Vec<i32>,
}

impl Codec {
    fn new(level: i32) -> Result<Self, ParquetError> {
        Ok(Self {
            compressor: zstd::bulk::Compressor::new(level)
                .map_err(|e| ParquetError::External(Box::new(e)))?,
            out: Vec::new(),
            ints: Vec::new(),
        })
    }

    /// Compresses `input` into the reused buffer; give the result back with `recycle`.
    fn compress(&mut self, input: &[u8]) -> Result<Bytes, ParquetError> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        out.reserve(zstd::zstd_safe::compress_bound(input.len()));
        self.compressor
            .compress_to_buffer(input, &mut out)
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(Bytes::from(out))
    }

    fn recycle(&mut self, bytes: Bytes) {
        if let Ok(m) = bytes.try_into_mut() {
            self.out = Vec::from(m);
        }
    }
}

/// BYTE_STREAM_SPLIT of f64 values into `out`: byte k of every value, for k = 0..8.
/// Done in blocks that stay in L1 cache, one pass per byte; with AVX2 (chosen at run time)
/// the compiler vectorises the passes.
pub(super) fn byte_stream_split_f64(values: &[f64], out: &mut Vec<u8>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { byte_stream_split_f64_avx2(values, out) };
    }
    byte_stream_split_f64_body(values, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn byte_stream_split_f64_avx2(values: &[f64], out: &mut Vec<u8>) {
    byte_stream_split_f64_body(values, out)
}

#[inline(always)]
fn byte_stream_split_f64_body(values: &[f64], out: &mut Vec<u8>) {
    const BLOCK: usize = 2048;
    let n = values.len();
    out.clear();
    out.resize(n * 8, 0);
    let mut bits = [0u64; BLOCK];
    for (b, block) in values.chunks(BLOCK).enumerate() {
        let bits = &mut bits[..block.len()];
        for (w, v) in bits.iter_mut().zip(block) {
            *w = v.to_bits();
        }
        let at = b * BLOCK..b * BLOCK + bits.len();
        let mut streams = out.chunks_exact_mut(n);
        let mut pass = |f: fn(&mut [u8], &[u64])| {
            if let Some(stream) = streams.next() {
                f(&mut stream[at.clone()], bits);
            }
        };
        // One function per byte, so each shift is a constant and the loop vectorises.
        pass(byte_of::<0>);
        pass(byte_of::<1>);
        pass(byte_of::<2>);
        pass(byte_of::<3>);
        pass(byte_of::<4>);
        pass(byte_of::<5>);
        pass(byte_of::<6>);
        pass(byte_of::<7>);
    }
}

#[inline(always)]
fn byte_of<const K: u32>(dst: &mut [u8], src: &[u64]) {
    for (d, w) in dst.iter_mut().zip(src) {
        *d = (w >> (8 * K)) as u8;
    }
}

/// BYTE_STREAM_SPLIT of values rounded to f32 (4 streams).
pub(super) fn byte_stream_split_f32(values: &[f64], out: &mut Vec<u8>) {
    let n = values.len();
    out.clear();
    out.resize(n * 4, 0);
    let mut streams: Vec<&mut [u8]> = out.chunks_mut(n.max(1)).collect();
    for (i, v) in values.iter().enumerate() {
        for (stream, byte) in streams.iter_mut().zip((*v as f32).to_le_bytes()) {
            stream[i] = byte;
        }
    }
}

/// One column of a row group as runs of equal values (consecutive equal values merged).
struct RunColumn<T> {
    values: Vec<T>,
    counts: Vec<u64>,
}

impl<T: Copy + PartialEq> RunColumn<T> {
    /// `same` decides which neighbours merge (bitwise equality for floats).
    fn new(
        runs: &[SampleRun],
        get: impl Fn(&SampleRun) -> T,
        same: impl Fn(&T, &T) -> bool,
    ) -> Self {
        let mut values: Vec<T> = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        for r in runs.iter().filter(|r| r.rows > 0) {
            let v = get(r);
            match (values.last(), counts.last_mut()) {
                (Some(last), Some(count)) if same(last, &v) => *count += r.rows as u64,
                _ => {
                    values.push(v);
                    counts.push(r.rows as u64);
                }
            }
        }
        Self { values, counts }
    }

    /// Writes the column chunk: a dictionary and RLE indices for long runs, PLAIN otherwise.
    fn encode(
        &self,
        mut chunk: ChunkBuilder,
        codec: &mut Codec,
        rows: u64,
        page_rows: usize,
        plain: impl Fn(T, &mut Vec<u8>),
    ) -> Result<EncodedColumn, ParquetError> {
        let dictionary = rows >= (MIN_DICTIONARY_RUN * self.values.len()) as u64;
        if dictionary {
            let mut dict = Vec::with_capacity(self.values.len() * 8);
            for &v in &self.values {
                plain(v, &mut dict);
            }
            chunk.dictionary_page(codec, &dict, self.values.len())?;
            let width = bit_width(self.values.len().saturating_sub(1) as u64).max(1);
            let mut pages = PageCutter::new(&self.counts, page_rows);
            while let Some(page) = pages.next_page() {
                let mut buf = vec![width];
                for (index, count) in page.runs {
                    rle_run(&mut buf, index as u64, count, width);
                }
                chunk.data_page(codec, &buf, page.rows, Encoding::RLE_DICTIONARY)?;
            }
        } else {
            let mut pages = PageCutter::new(&self.counts, page_rows);
            while let Some(page) = pages.next_page() {
                let mut buf = Vec::with_capacity(page.rows * 8);
                for (index, count) in page.runs {
                    for _ in 0..count {
                        plain(self.values[index], &mut buf);
                    }
                }
                chunk.data_page(codec, &buf, page.rows, Encoding::PLAIN)?;
            }
        }
        chunk.finish(rows)
    }
}

/// Cuts runs into pages of at most `page_rows` rows.
struct PageCutter<'a> {
    counts: &'a [u64],
    page_rows: usize,
    /// Run index and rows of it already given out.
    at: (usize, u64),
}

struct PageRuns {
    rows: usize,
    /// (run index, rows of that run in this page)
    runs: Vec<(usize, u64)>,
}

impl<'a> PageCutter<'a> {
    fn new(counts: &'a [u64], page_rows: usize) -> Self {
        Self {
            counts,
            page_rows,
            at: (0, 0),
        }
    }

    fn next_page(&mut self) -> Option<PageRuns> {
        let mut page = PageRuns {
            rows: 0,
            runs: Vec::new(),
        };
        while page.rows < self.page_rows {
            let (i, used) = self.at;
            let Some(&count) = self.counts.get(i) else {
                break;
            };
            let take = (count - used).min((self.page_rows - page.rows) as u64);
            page.runs.push((i, take));
            page.rows += take as usize;
            self.at = if used + take == count {
                (i + 1, 0)
            } else {
                (i, used + take)
            };
        }
        (page.rows > 0).then_some(page)
    }
}

/// `neuron` of a state row group: 0..rows of every sample, DELTA_BINARY_PACKED.
fn encode_neurons(
    chunk: ChunkBuilder,
    codec: &mut Codec,
    runs: &[SampleRun],
    rows: u64,
    page_rows: usize,
) -> Result<EncodedColumn, ParquetError> {
    // u32 neuron indices are stored as INT32 (the Arrow UInt32 mapping).
    encode_rows(chunk, codec, runs, rows, page_rows, |a, b, page| {
        page.extend((a..b).map(|i| i as i32))
    })
}

/// An INT32 column of a state row group whose rows `a..b` of each sample `fill` gives,
/// DELTA_BINARY_PACKED.
fn encode_rows(
    mut chunk: ChunkBuilder,
    codec: &mut Codec,
    runs: &[SampleRun],
    rows: u64,
    page_rows: usize,
    mut fill: impl FnMut(u32, u32, &mut Vec<i32>),
) -> Result<EncodedColumn, ParquetError> {
    let mut page = std::mem::take(&mut codec.ints);
    page.clear();
    let mut flush = |page: &mut Vec<i32>, chunk: &mut ChunkBuilder| {
        let buf = delta_binary_packed_i32(page);
        let n = page.len();
        page.clear();
        chunk.data_page(codec, &buf, n, Encoding::DELTA_BINARY_PACKED)
    };
    for r in runs {
        let mut neuron = 0u32;
        while neuron < r.rows {
            let room = u32::try_from(page_rows - page.len()).unwrap_or(u32::MAX);
            let end = neuron + room.min(r.rows - neuron);
            fill(neuron, end, &mut page);
            neuron = end;
            if page.len() >= page_rows {
                flush(&mut page, &mut chunk)?;
            }
        }
    }
    if !page.is_empty() {
        flush(&mut page, &mut chunk)?;
    }
    codec.ints = page;
    chunk.finish(rows)
}

/// Assembles the pages of one column chunk and its metadata.
struct ChunkBuilder {
    descr: ColumnDescPtr,
    out: TrackedWrite<Vec<u8>>,
    zstd_level: i32,
    statistics: Option<Statistics>,
    dictionary_offset: Option<i64>,
    data_offset: Option<i64>,
    uncompressed: i64,
    locations: Vec<PageLocation>,
    first_row: i64,
    encodings: Vec<Encoding>,
    page_stats: Vec<PageEncodingStats>,
}

impl ChunkBuilder {
    fn new(
        descr: &ColumnDescPtr,
        zstd_level: i32,
        statistics: Option<Statistics>,
        buffer: Vec<u8>,
    ) -> Self {
        Self {
            descr: descr.clone(),
            out: TrackedWrite::new(buffer),
            zstd_level,
            statistics,
            dictionary_offset: None,
            data_offset: None,
            uncompressed: 0,
            locations: Vec::new(),
            first_row: 0,
            encodings: vec![Encoding::RLE],
            page_stats: Vec::new(),
        }
    }

    /// Compresses and writes one page; returns its offset and size (with header).
    fn write(
        &mut self,
        codec: &mut Codec,
        raw: &[u8],
        page: impl FnOnce(Bytes) -> Page,
    ) -> Result<(u64, u64), ParquetError> {
        let compressed = codec.compress(raw)?;
        let mut writer = SerializedPageWriter::new(&mut self.out);
        let spec = writer.write_page(CompressedPage::new(page(compressed.clone()), raw.len()))?;
        writer.close()?;
        codec.recycle(compressed);
        self.uncompressed += spec.uncompressed_size as i64;
        Ok((spec.offset, spec.compressed_size as u64))
    }

    fn note(&mut self, page_type: PageType, encoding: Encoding) {
        if !self.encodings.contains(&encoding) {
            self.encodings.push(encoding);
        }
        match self.page_stats.last_mut() {
            Some(s) if s.page_type == page_type && s.encoding == encoding => s.count += 1,
            _ => self.page_stats.push(PageEncodingStats {
                page_type,
                encoding,
                count: 1,
            }),
        }
    }

    fn dictionary_page(
        &mut self,
        codec: &mut Codec,
        plain: &[u8],
        values: usize,
    ) -> Result<(), ParquetError> {
        let num_values = count_u32(values)?;
        let (offset, _) = self.write(codec, plain, |buf| Page::DictionaryPage {
            buf,
            num_values,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        })?;
        self.dictionary_offset = Some(offset as i64);
        self.note(PageType::DICTIONARY_PAGE, Encoding::PLAIN);
        Ok(())
    }

    fn data_page(
        &mut self,
        codec: &mut Codec,
        raw: &[u8],
        rows: usize,
        encoding: Encoding,
    ) -> Result<(), ParquetError> {
        let num_values = count_u32(rows)?;
        let (offset, size) = self.write(codec, raw, |buf| Page::DataPage {
            buf,
            num_values,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        })?;
        self.data_offset.get_or_insert(offset as i64);
        self.locations.push(PageLocation {
            offset: offset as i64,
            compressed_page_size: i32::try_from(size)
                .map_err(|_| ParquetError::General("page larger than 2 GiB".into()))?,
            first_row_index: self.first_row,
        });
        self.first_row += rows as i64;
        self.note(PageType::DATA_PAGE, encoding);
        Ok(())
    }

    fn finish(self, rows: u64) -> Result<EncodedColumn, ParquetError> {
        // An empty row group (no data page) gets offset 0, which readers accept: they read
        // no page of it (tested with the parquet reader in `state_columns_read_back_exactly`).
        let data_offset = self.data_offset.unwrap_or(0);
        let data = Bytes::from(self.out.into_inner()?);
        let level = ZstdLevel::try_new(self.zstd_level)?;
        let mut builder = ColumnChunkMetaData::builder(self.descr)
            .set_compression(Compression::ZSTD(level))
            .set_encodings_mask(EncodingMask::new_from_encodings(self.encodings.iter()))
            .set_page_encoding_stats(self.page_stats)
            .set_total_compressed_size(data.len() as i64)
            .set_total_uncompressed_size(self.uncompressed)
            .set_num_values(rows as i64)
            .set_data_page_offset(data_offset)
            .set_dictionary_page_offset(self.dictionary_offset);
        if let Some(s) = self.statistics {
            builder = builder.set_statistics(s);
        }
        let metadata = builder.build()?;
        Ok(EncodedColumn {
            close: ColumnCloseResult {
                bytes_written: data.len() as u64,
                rows_written: rows,
                metadata,
                bloom_filter: None,
                column_index: None,
                offset_index: Some(OffsetIndexMetaData {
                    page_locations: self.locations,
                    unencoded_byte_array_data_bytes: None,
                }),
            },
            data,
        })
    }
}

/// A page's value count (the page header holds an i32).
fn count_u32(n: usize) -> Result<u32, ParquetError> {
    i32::try_from(n)
        .map(|n| n as u32)
        .map_err(|_| ParquetError::General(format!("{n} values in one page")))
}

/// Bits needed for `v` (0 for 0).
fn bit_width(v: u64) -> u8 {
    (64 - v.leading_zeros()) as u8
}

fn uleb128(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// One RLE run of the RLE/bit-packing hybrid: `count` repetitions of `value`.
fn rle_run(out: &mut Vec<u8>, value: u64, count: u64, width: u8) {
    uleb128(out, count << 1);
    let bytes = (width as usize).div_ceil(8);
    out.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

/// DELTA_BINARY_PACKED of INT32 values: blocks of 128 deltas in 4 miniblocks of 32, deltas
/// and their minimum taken with 32-bit wrapping arithmetic (as readers decode them).
pub(super) fn delta_binary_packed_i32(values: &[i32]) -> Vec<u8> {
    const BLOCK: usize = 128;
    const MINI: usize = 32;
    let mut out = Vec::with_capacity(64 + values.len() / 16);
    uleb128(&mut out, BLOCK as u64);
    uleb128(&mut out, (BLOCK / MINI) as u64);
    uleb128(&mut out, values.len() as u64);
    let Some(&first) = values.first() else {
        out.push(0); // first value 0 (zigzag)
        return out;
    };
    uleb128(&mut out, zigzag(first as i64));
    let mut deltas = [0i32; BLOCK];
    let mut prev = first;
    for block in values[1..].chunks(BLOCK) {
        let n = block.len();
        for (d, &v) in deltas.iter_mut().zip(block) {
            *d = v.wrapping_sub(prev);
            prev = v;
        }
        let min = deltas[..n].iter().copied().min().unwrap_or(0);
        uleb128(&mut out, zigzag(min as i64));
        let mut widths = [0u8; BLOCK / MINI];
        for (m, w) in widths.iter_mut().enumerate() {
            let lo = m * MINI;
            if lo < n {
                let or = deltas[lo..n.min(lo + MINI)]
                    .iter()
                    .fold(0u32, |acc, &d| acc | d.wrapping_sub(min) as u32);
                *w = bit_width(or as u64);
            }
        }
        out.extend_from_slice(&widths);
        for (m, &w) in widths.iter().enumerate() {
            let lo = m * MINI;
            if lo >= n || w == 0 {
                continue;
            }
            // A miniblock is always MINI values long; missing values are packed as 0.
            let mut acc: u64 = 0;
            let mut bits = 0u32;
            let packed = deltas[lo..n.min(lo + MINI)]
                .iter()
                .map(|d| d.wrapping_sub(min) as u32 as u64)
                .chain(std::iter::repeat(0))
                .take(MINI);
            for v in packed {
                acc |= v << bits;
                bits += w as u32;
                while bits >= 8 {
                    out.push(acc as u8);
                    acc >>= 8;
                    bits -= 8;
                }
            }
            debug_assert_eq!(bits, 0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uleb_and_zigzag() {
        let mut out = Vec::new();
        uleb128(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i32::MIN as i64), u32::MAX as u64);
    }

    #[test]
    fn ramp_blocks_have_zero_width() {
        let ramp: Vec<i32> = (0..129).collect();
        let enc = delta_binary_packed_i32(&ramp);
        // header (128, 4, 129, zigzag(0)) + min delta 1 + four zero widths, no packed bits
        assert_eq!(enc, [0x80, 0x01, 4, 0x81, 0x01, 0, 2, 0, 0, 0, 0]);
    }

    #[test]
    fn page_cutter_splits_runs_at_page_size() {
        let counts = [PAGE_ROWS as u64 - 1, 3, 5];
        let mut cut = PageCutter::new(&counts, PAGE_ROWS);
        let a = cut.next_page().unwrap();
        assert_eq!(a.rows, PAGE_ROWS);
        assert_eq!(a.runs, vec![(0, PAGE_ROWS as u64 - 1), (1, 1)]);
        let b = cut.next_page().unwrap();
        assert_eq!(b.runs, vec![(1, 2), (2, 5)]);
        assert!(cut.next_page().is_none());
    }

    use arrow_array::{Array, Float64Array, Int32Array, Int64Array, UInt32Array};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::arrow_writer::ArrowWriterOptions;
    use parquet::arrow::ArrowWriter;
    use parquet::file::writer::SerializedFileWriter;
    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;
    use std::sync::Arc;

    /// A file writer for `fields` whose columns are appended by hand.
    fn file_writer(fields: Vec<Field>) -> SerializedFileWriter<Vec<u8>> {
        let schema = Arc::new(Schema::new(fields));
        let options = ArrowWriterOptions::new().with_skip_arrow_metadata(true);
        let w = ArrowWriter::try_new_with_options(Vec::new(), schema, options).unwrap();
        w.into_serialized_writer().unwrap().0
    }

    /// A recorded value of every (step, neuron), with varied bytes.
    fn value(step: i64, neuron: u32) -> f64 {
        (step as f64 * 0.37 + neuron as f64).sin() * 70.0 - 1e-3 * neuron as f64
    }

    fn state_fields(value_type: DataType) -> Vec<Field> {
        vec![
            Field::new("period", DataType::UInt32, false),
            Field::new("step", DataType::Int64, false),
            Field::new("time_ms", DataType::Float64, false),
            Field::new("neuron", DataType::UInt32, false),
            Field::new("v", value_type.clone(), false),
            Field::new("u", value_type, false),
        ]
    }

    fn state_columns(
        w: &SerializedFileWriter<Vec<u8>>,
        page_rows: usize,
        f32_values: bool,
    ) -> StateColumns {
        let descr = w.schema_descr();
        StateColumns {
            descr: (0..descr.num_columns()).map(|i| descr.column(i)).collect(),
            zstd_level: 1,
            step_statistics: true,
            page_rows,
            row_group_rows: 64,
            f32_values,
            chunks: Pool::default(),
            workspaces: Arc::default(),
            keys: None,
        }
    }

    /// Writes `groups` (each a list of samples, sent in batches of 3 samples) as row groups
    /// with values `value` (v) and `-value` (u), and reads every column back with the
    /// Arrow reader.
    fn round_trip(
        groups: &[Vec<SampleRun>],
        page_rows: usize,
        f32_values: bool,
    ) -> Vec<arrow_array::RecordBatch> {
        let value_type = if f32_values {
            DataType::Float32
        } else {
            DataType::Float64
        };
        let mut w = file_writer(state_fields(value_type));
        let cols = state_columns(&w, page_rows, f32_values);
        for runs in groups {
            let mut enc = StateEncoder::new(&cols).unwrap();
            for batch in runs.chunks(3) {
                let v: Vec<f64> = batch
                    .iter()
                    .flat_map(|r| (0..r.rows).map(move |n| value(r.step, n)))
                    .collect();
                let u = v.iter().map(|x| -x).collect();
                enc.push(batch, &[v, u]).unwrap();
            }
            let mut group = w.next_row_group().unwrap();
            for c in enc.finish().unwrap() {
                group.append_column(&c.data, c.close).unwrap();
            }
            group.close().unwrap();
        }
        let bytes = Bytes::from(w.into_inner().unwrap());
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        // Row-group statistics on step are the min and max of each group's steps.
        for (g, runs) in groups.iter().enumerate() {
            let rg = builder.metadata().row_group(g);
            let steps: Vec<i64> = runs.iter().filter(|r| r.rows > 0).map(|r| r.step).collect();
            match rg.column(1).statistics() {
                Some(Statistics::Int64(s)) => {
                    assert_eq!(s.min_opt(), steps.iter().min());
                    assert_eq!(s.max_opt(), steps.iter().max());
                }
                other => assert!(steps.is_empty(), "{other:?}"),
            }
        }
        builder.build().unwrap().map(|b| b.unwrap()).collect()
    }

    fn expand(groups: &[Vec<SampleRun>]) -> (Vec<u32>, Vec<i64>, Vec<f64>, Vec<u32>) {
        let mut out = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in groups.iter().flatten() {
            for n in 0..r.rows {
                out.0.push(r.period);
                out.1.push(r.step);
                out.2.push(r.time_ms);
                out.3.push(n);
            }
        }
        out
    }

    fn column<T: Array + Clone + 'static>(
        batches: &[arrow_array::RecordBatch],
        i: usize,
    ) -> Vec<T> {
        batches
            .iter()
            .map(|b| b.column(i).as_any().downcast_ref::<T>().unwrap().clone())
            .collect()
    }

    fn sample_runs() -> impl Strategy<Value = Vec<SampleRun>> {
        // Long and short runs, so both dictionary and plain pages occur.
        prop::collection::vec((0u32..3, 0i64..4, prop_oneof![0u32..3, 5u32..40]), 0..30).prop_map(
            |v| {
                let (mut period, mut step) = (0u32, -3i64);
                v.into_iter()
                    .map(|(dp, ds, rows)| {
                        period += dp;
                        step += ds + 1;
                        SampleRun {
                            period,
                            step,
                            time_ms: step as f64 * 0.1,
                            rows,
                        }
                    })
                    .collect()
            },
        )
    }

    proptest! {
        // Failing cases are kept beside the integration tests' (not in a top-level folder).
        #![proptest_config(ProptestConfig {
            cases: 64,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
                "tests/proptest-regressions/encode.txt",
            ))),
            ..ProptestConfig::default()
        })]

        #[test]
        fn state_columns_read_back_exactly(
            groups in prop::collection::vec(sample_runs(), 1..4),
            page_rows in 1usize..50,
            f32_values in any::<bool>(),
        ) {
            let batches = round_trip(&groups, page_rows, f32_values);
            let (period, step, time_ms, neuron) = expand(&groups);
            let got_p: Vec<u32> = column::<UInt32Array>(&batches, 0).iter().flat_map(|a| a.values().to_vec()).collect();
            let got_s: Vec<i64> = column::<Int64Array>(&batches, 1).iter().flat_map(|a| a.values().to_vec()).collect();
            let got_t: Vec<f64> = column::<Float64Array>(&batches, 2).iter().flat_map(|a| a.values().to_vec()).collect();
            let got_n: Vec<u32> = column::<UInt32Array>(&batches, 3).iter().flat_map(|a| a.values().to_vec()).collect();
            prop_assert_eq!(got_p, period);
            prop_assert_eq!(&got_s, &step);
            prop_assert_eq!(got_t.iter().map(|t| t.to_bits()).collect::<Vec<_>>(),
                time_ms.iter().map(|t| t.to_bits()).collect::<Vec<_>>());
            prop_assert_eq!(&got_n, &neuron);
            let expected: Vec<u64> = step.iter().zip(&neuron).map(|(&s, &n)| {
                let v = value(s, n);
                if f32_values { (v as f32).to_bits() as u64 } else { v.to_bits() }
            }).collect();
            for (col, sign) in [(4, 1.0), (5, -1.0)] {
                let got: Vec<u64> = if f32_values {
                    column::<arrow_array::Float32Array>(&batches, col).iter()
                        .flat_map(|a| a.values().iter().map(|x| (x * sign as f32).to_bits() as u64).collect::<Vec<_>>()).collect()
                } else {
                    column::<Float64Array>(&batches, col).iter()
                        .flat_map(|a| a.values().iter().map(|x| (x * sign).to_bits()).collect::<Vec<_>>()).collect()
                };
                prop_assert_eq!(&got, &expected, "column {}", col);
            }
        }

        #[test]
        fn byte_stream_split_is_a_byte_transpose(values in prop::collection::vec(any::<f64>(), 0..70)) {
            let mut out = vec![1u8; 3];
            byte_stream_split_f64(&values, &mut out);
            let n = values.len();
            prop_assert_eq!(out.len(), n * 8);
            for (i, v) in values.iter().enumerate() {
                for (k, b) in v.to_le_bytes().iter().enumerate() {
                    prop_assert_eq!(out[k * n + i], *b);
                }
            }
        }

        #[test]
        fn delta_encoding_reads_back_exactly(
            values in prop::collection::vec(prop_oneof![
                any::<i32>(),
                -5i32..5,
                Just(i32::MIN),
                Just(i32::MAX),
            ], 0..700),
        ) {
            let mut w = file_writer(vec![Field::new("x", DataType::Int32, false)]);
            let descr = w.schema_descr().column(0);
            let mut chunk = ChunkBuilder::new(&descr, 1, None, Vec::new());
            let mut codec = Codec::new(1).unwrap();
            chunk.data_page(&mut codec, &delta_binary_packed_i32(&values), values.len(), Encoding::DELTA_BINARY_PACKED).unwrap();
            let col = chunk.finish(values.len() as u64).unwrap();
            let mut group = w.next_row_group().unwrap();
            group.append_column(&col.data, col.close).unwrap();
            group.close().unwrap();
            let bytes = Bytes::from(w.into_inner().unwrap());
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
            let got: Vec<i32> = reader
                .flat_map(|b| b.unwrap().column(0).as_any().downcast_ref::<Int32Array>().unwrap().values().to_vec())
                .collect();
            prop_assert_eq!(got, values);
        }
    }

    #[test]
    fn projection_state_writes_post_and_pre_of_every_sample() {
        // 7 synapses, samples of all of them, pages of 3 rows: pages cut samples anywhere.
        let keys: Arc<[(u32, u32)]> =
            vec![(0, 2), (0, 5), (1, 0), (3, 3), (3, 4), (9, 1), (9, 8)].into();
        let fields = vec![
            Field::new("period", DataType::UInt32, false),
            Field::new("step", DataType::Int64, false),
            Field::new("time_ms", DataType::Float64, false),
            Field::new("post", DataType::UInt32, false),
            Field::new("pre", DataType::UInt32, false),
            Field::new("w", DataType::Float64, false),
        ];
        let mut w = file_writer(fields);
        let mut cols = state_columns(&w, 3, false);
        cols.keys = Some(Arc::clone(&keys));
        let runs: Vec<SampleRun> = (0..5)
            .map(|k| SampleRun {
                period: k / 3,
                step: 10 * k as i64,
                time_ms: k as f64,
                rows: 7,
            })
            .collect();
        let mut enc = StateEncoder::new(&cols).unwrap();
        for batch in runs.chunks(2) {
            let v: Vec<f64> = batch
                .iter()
                .flat_map(|r| (0..r.rows).map(move |n| value(r.step, n)))
                .collect();
            enc.push(batch, &[v]).unwrap();
        }
        let mut group = w.next_row_group().unwrap();
        for c in enc.finish().unwrap() {
            group.append_column(&c.data, c.close).unwrap();
        }
        group.close().unwrap();
        let bytes = Bytes::from(w.into_inner().unwrap());
        let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
        let flat = |i: usize| -> Vec<u32> {
            column::<UInt32Array>(&batches, i)
                .iter()
                .flat_map(|a| a.values().to_vec())
                .collect()
        };
        let expected = |side: fn(&(u32, u32)) -> u32| -> Vec<u32> {
            (0..5).flat_map(|_| keys.iter().map(side)).collect()
        };
        assert_eq!(flat(3), expected(|k| k.0));
        assert_eq!(flat(4), expected(|k| k.1));
        let steps: Vec<i64> = column::<Int64Array>(&batches, 1)
            .iter()
            .flat_map(|a| a.values().to_vec())
            .collect();
        assert_eq!(
            steps,
            (0..5).flat_map(|k| [10 * k; 7]).collect::<Vec<i64>>()
        );
        let w: Vec<f64> = column::<Float64Array>(&batches, 5)
            .iter()
            .flat_map(|a| a.values().to_vec())
            .collect();
        let expected_w: Vec<f64> = runs
            .iter()
            .flat_map(|r| (0..7).map(move |n| value(r.step, n)))
            .collect();
        assert_eq!(w, expected_w);
    }

    #[test]
    fn long_runs_become_a_dictionary_and_short_runs_plain() {
        let run = |step, rows| SampleRun {
            period: 0,
            step,
            time_ms: step as f64 * 0.1,
            rows,
        };
        let long: Vec<SampleRun> = (0..10).map(|s| run(s, 100)).collect();
        let short: Vec<SampleRun> = (0..10).map(|s| run(s, 1)).collect();
        let mut w = file_writer(state_fields(DataType::Float64));
        let mut cols = state_columns(&w, PAGE_ROWS, false);
        cols.step_statistics = false;
        let encode = |runs: &[SampleRun]| {
            let mut enc = StateEncoder::new(&cols).unwrap();
            let v: Vec<f64> = vec![0.5; runs.iter().map(|r| r.rows as usize).sum()];
            enc.push(runs, &[v.clone(), v]).unwrap();
            enc.finish().unwrap()
        };
        let a = encode(&long);
        let b = encode(&short);
        assert_eq!(a[4].close.metadata.column_descr().name(), "v");
        assert!(a[4]
            .close
            .metadata
            .encodings()
            .any(|e| e == Encoding::BYTE_STREAM_SPLIT));
        assert!(a[1].close.metadata.dictionary_page_offset().is_some());
        assert!(b[1].close.metadata.dictionary_page_offset().is_none());
        // period is one run in both
        assert!(b[0].close.metadata.dictionary_page_offset().is_some());
        assert!(a[1].close.metadata.statistics().is_none());
        let _ = w.next_row_group();
    }
}
