import CCPodSystemShims
import Foundation

/// Where the files of a pull are first written: scratch folders made in a folder marked
/// as a top of hierarchy for ext4's allocator (`chattr +T`), so each scratch folder, and
/// the files made in it, goes to a block group of its own instead of its parent's.
///
/// Why: ext4 without a journal skips inodes freed in the last minute (six while their
/// inode table is unwritten) when it allocates, testing each in turn from the start of
/// the group, for every new file. A pull's files were all made in one scratch folder
/// whose group held the inodes of everything deleted from the Claude dir just before
/// (a cold pull after emptying it, as benchmarks do): each new file walked past
/// thousands of them, 35 % of ccpod's CPU in a cold pull of 550 files
/// (`recently_deleted` in `perf`), 0.76–0.85 s against 0.59–0.71 s with the mark, on
/// this 2-core VM's journal-less ext4. rsync, making its files beside their folders,
/// does not meet it. Elsewhere (a journaled ext4, other file systems) the mark is
/// either harmless or refused, and nothing else changes.
public enum ScratchSpread {
    /// Marks `folder` (ccpod's own, private) once; any failure is ignored.
    public static func mark(_ folder: URL) {
        _ = ccpod_topdir(folder.path, 1)
    }

    /// Whether `folder` carries the mark; nil where the file system cannot say.
    public static func isMarked(_ folder: URL) -> Bool? {
        let flag = ccpod_topdir(folder.path, 0)
        return flag < 0 ? nil : flag == 1
    }
}
