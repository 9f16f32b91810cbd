@testable import CCPodKit
import CCPodTestSupport
import Foundation
import Testing

/// A pull's scratch folders are spread over the file system's block groups (see
/// ScratchSpread): the pod's state folder, where they are made, carries ext4's
/// top-of-hierarchy mark after any sync.
@Suite struct ScratchSpreadTests {
    @Test func aSyncMarksItsStateFolderWhereTheFileSystemCan() throws {
        var bed = try SyncTestBed()
        defer { bed.remove() }
        // A file system without the flag (tmpfs, xfs, APFS) cannot say: nothing to check there.
        let probe = bed.root.appendingPathComponent("probe")
        try FileManager.default.createDirectory(at: probe, withIntermediateDirectories: true)
        guard ScratchSpread.isMarked(probe) != nil else { return }
        #expect(ScratchSpread.isMarked(probe) == false)
        let id = "33333333-4444-4555-8666-000000000001"
        try SyncTestBed.write(SyncTestBed.lines(session: id, count: 4), to: bed.podTranscript(id))
        bed.connection = LocalConnection(root: bed.podRoot)
        let pull = try bed.run(.pull)
        #expect(pull.count(.copiedFromPod) == 1)
        #expect(ScratchSpread.isMarked(bed.state) == true)
        // Marking again changes nothing, and a missing folder is no error.
        ScratchSpread.mark(bed.state)
        ScratchSpread.mark(bed.root.appendingPathComponent("nowhere"))
        #expect(ScratchSpread.isMarked(bed.state) == true)
    }
}
