//! Closing a chunk: each file of a kept chunk gets its metadata (period table, parameters,
//! simulated step range) and is closed and synced in the staging directory by the encoder
//! thread; then the chunk is recorded complete, with its files' sizes and checksums, in the
//! manifest's journal, and its files move into the compartments' Hive trees. A chunk that
//! is not kept is dropped with its staged files.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use super::encoder::Job;
use super::{ArchiveWriter, OpenChunk};
use crate::archive::manifest::{
    sync_dir, ChunkEntry, ChunkStatus, CompartmentPeriods, FileEntry, JournalEntry,
};
use crate::archive::meta::{compact_parameters, period_rows, FileMeta, ProjectionMeta};
use crate::archive::{
    chunk_dir, part_name, staged_path, ArchiveError, Kind, ValueStorage, FORMAT_VERSION,
};
use crate::monitor::ChunkEnd;

/// A file the encoder thread was asked to close: its reply (rows, bytes, CRC-32), and where
/// it goes in the manifest.
struct Closing {
    reply: Receiver<Result<(u64, u64, u32), ArchiveError>>,
    rel: PathBuf,
    compartment: String,
    kind: Kind,
    part: u32,
}

/// The (compartment, kind) of every stream of a chunk.
fn streams_of(chunk: &OpenChunk) -> Vec<(usize, Kind)> {
    (0..chunk.infos.len())
        .flat_map(|c| {
            let (s, k) = &chunk.streams[c];
            s.as_ref()
                .map(|_| (c, Kind::State))
                .into_iter()
                .chain(k.as_ref().map(|_| (c, Kind::Spikes)))
        })
        .collect()
}

impl ArchiveWriter {
    /// Closes the open chunk: kept, its files are completed and the chunk recorded complete;
    /// not kept, it is dropped.
    pub(super) fn close_chunk(&mut self, end: &ChunkEnd<'_>) -> Result<(), ArchiveError> {
        let Some(chunk) = self.chunk.as_ref() else {
            return Ok(());
        };
        let streams = streams_of(chunk);
        if !end.keep {
            return self.discard_chunk(end, &streams);
        }
        for &(c, kind) in &streams {
            self.flush_stream(c, kind)?;
            if self.stream_mut(c, kind)?.parts.is_empty() {
                // Every kept chunk has a file per compartment and kind, rows or not, so the
                // period table is always on disk.
                self.open_part(c, kind)?;
            }
        }
        let mut closing = Vec::new();
        for &(c, kind) in &streams {
            closing.extend(self.close_parts(end, c, kind)?);
        }
        let collected = collect(closing);
        self.chunk = None;
        let files = collected?;
        self.sync_parents(files.iter().map(|f| staged_path(Path::new(&f.path))))?;
        // The commit point: from this journal line on the chunk is complete. Its files then
        // move from the staging directory into the compartments' Hive trees; a process
        // stopped in between leaves them where readers of the archive find them
        // (`Archive::file_path`) and `neurorec repair` moves them.
        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        self.store
            .record(JournalEntry::Chunk(self.complete_entry(end, files)))?;
        self.move_into_place(&paths)
    }

    /// Moves the files of a complete chunk from the staging directory to their places.
    fn move_into_place(&self, paths: &[String]) -> Result<(), ArchiveError> {
        for rel in paths {
            let from = self.dir.join(staged_path(Path::new(rel)));
            let to = self.dir.join(rel);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(ArchiveError::io(parent))?;
            }
            std::fs::rename(&from, &to).map_err(ArchiveError::io(&to))?;
            crate::archive::crash_point("file_renamed");
            // Only the chunk's own staging directory goes (when empty): the ones above
            // serve the next chunks (a single run prunes them when it finishes).
            if let Some(chunk_dir) = from.parent() {
                let _ = std::fs::remove_dir(chunk_dir);
            }
        }
        // No sync of the new directories: a rename is atomic, so after a power loss a file
        // is either in place or still staged, and readers of the archive find it in both.
        Ok(())
    }

    /// Syncs the directories of `paths` (relative), each once, so renames in them are
    /// durable.
    fn sync_parents(&self, paths: impl Iterator<Item = PathBuf>) -> Result<(), ArchiveError> {
        if !self.options.sync {
            return Ok(());
        }
        let mut dirs: Vec<PathBuf> = paths
            .filter_map(|p| p.parent().map(|d| self.dir.join(d)))
            .collect();
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            sync_dir(&d)?;
        }
        Ok(())
    }

    /// Drops a chunk that is not kept: its files are aborted (temporary files removed) and
    /// its entry removed from the manifest.
    fn discard_chunk(
        &mut self,
        end: &ChunkEnd<'_>,
        streams: &[(usize, Kind)],
    ) -> Result<(), ArchiveError> {
        let mut staged = Vec::new();
        for &(c, kind) in streams {
            let parts = self.stream_mut(c, kind)?.parts.clone();
            let name = match self.chunk.as_ref() {
                Some(chunk) => chunk.infos[c].name.clone(),
                None => continue,
            };
            let rel_dir = chunk_dir(&name, kind, self.options.run, end.set, end.chunk);
            for (part, id) in parts.into_iter().enumerate() {
                let tmp = self
                    .dir
                    .join(staged_path(&rel_dir.join(part_name(part as u32))));
                staged.push((id, tmp));
            }
        }
        for (id, tmp) in staged {
            self.send(Job::Abort { id, tmp })?;
        }
        self.chunk = None;
        self.store.record(JournalEntry::Remove {
            run: self.options.run,
            set: end.set,
            chunk: end.chunk,
        })
    }

    /// Asks the encoder thread to close every part of compartment `c`'s `kind` file with
    /// its metadata.
    fn close_parts(
        &mut self,
        end: &ChunkEnd<'_>,
        c: usize,
        kind: Kind,
    ) -> Result<Vec<Closing>, ArchiveError> {
        let parts = self.stream_mut(c, kind)?.parts.clone();
        let chunk = self
            .chunk
            .as_ref()
            .ok_or_else(|| ArchiveError::EncoderGone("no open chunk".into()))?;
        let name = chunk.infos[c].name.clone();
        let rel_dir = chunk_dir(&name, kind, self.options.run, end.set, end.chunk);
        let mut closing = Vec::new();
        for (part, id) in parts.iter().enumerate() {
            let meta = self.file_meta(end, c, kind, part as u32, parts.len() as u32)?;
            let rel = rel_dir.join(part_name(part as u32));
            let (tx, rx) = std::sync::mpsc::channel();
            self.send(Job::Close {
                id: *id,
                meta: meta.to_key_values(),
                path: self.dir.join(staged_path(&rel)),
                sync: self.options.sync,
                reply: tx,
            })?;
            closing.push(Closing {
                reply: rx,
                rel,
                compartment: name.clone(),
                kind,
                part: part as u32,
            });
        }
        Ok(closing)
    }

    /// The metadata of part `part` of `parts` of compartment `c`'s `kind` file.
    fn file_meta(
        &self,
        end: &ChunkEnd<'_>,
        c: usize,
        kind: Kind,
        part: u32,
        parts: u32,
    ) -> Result<FileMeta, ArchiveError> {
        let chunk = self
            .chunk
            .as_ref()
            .ok_or_else(|| ArchiveError::EncoderGone("no open chunk".into()))?;
        let info = &chunk.infos[c];
        let times = end
            .times
            .compartment(&info.name)
            .ok_or_else(|| ArchiveError::Corrupt {
                path: self.dir.clone(),
                what: format!("no recording times for {}", info.name),
            })?;
        Ok(FileMeta {
            format_version: FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            kind,
            compartment: info.name.clone(),
            run: self.options.run,
            set: end.set,
            chunk: end.chunk,
            part,
            parts,
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
            periods: period_rows(times),
            chunk_first_step: end.times.first_step,
            chunk_end_step: end.times.end_step,
            chunk_skipped_steps: end.times.skipped_steps,
            simulated_ms: self.time_ms(end.times.end_step - end.times.first_step),
            projection: info.projection.as_ref().map(|p| ProjectionMeta {
                pre: p.pre.clone(),
                post: p.post.clone(),
                target: p.target.clone(),
            }),
        })
    }

    /// The manifest entry of a complete chunk.
    fn complete_entry(&self, end: &ChunkEnd<'_>, files: Vec<FileEntry>) -> ChunkEntry {
        ChunkEntry {
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
        }
    }
}

/// Waits for every file to be closed; returns their manifest entries, or the first error.
fn collect(closing: Vec<Closing>) -> Result<Vec<FileEntry>, ArchiveError> {
    let mut files = Vec::new();
    let mut first_error = None;
    for c in closing {
        match c.reply.recv() {
            Ok(Ok((rows, bytes, crc))) => files.push(FileEntry {
                path: c.rel.to_string_lossy().replace('\\', "/"),
                compartment: c.compartment,
                kind: c.kind,
                part: c.part,
                rows,
                bytes,
                crc32: format!("{crc:08x}"),
            }),
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
    match first_error {
        Some(e) => Err(e),
        None => Ok(files),
    }
}
