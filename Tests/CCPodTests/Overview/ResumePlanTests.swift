@testable import CCPodKit
import Foundation
import Testing

/// Which session `ccpod resume` means, and what it moves first: no disk, no process.
@Suite struct ResumePlanTests {
    static func session(_ id: String, title: String?, newest: [String] = ["here"], live: [String] = []) -> OverviewSession {
        OverviewSession(id: id, title: title, project: "/p", slug: "-p", places: ["here"], live: live, newest: newest,
                        here: true, pods: [], lastPrompt: nil, lastActivity: nil, size: nil)
    }

    let plan = ResumePlanTests.session("aaaaaaaa-0000-4000-8000-000000000001", title: "Plan the migration")
    let fork = ResumePlanTests.session("aaaabbbb-0000-4000-8000-000000000002", title: "Plan the migration (fork)")
    let other = ResumePlanTests.session("cccccccc-0000-4000-8000-000000000003", title: "Tune the sweep")

    @Test func idsPrefixesAndTitlesFindOneOrListTheCandidates() {
        let all = [plan, fork, other]
        #expect(SessionMatch.find(plan.id, in: all) == .found(plan))
        #expect(SessionMatch.find("cccc", in: all) == .found(other))
        #expect(SessionMatch.find("aaaa", in: all) == .ambiguous([plan, fork]))
        #expect(SessionMatch.find("sweep", in: all) == .found(other))
        #expect(SessionMatch.find("plan the", in: all) == .ambiguous([plan, fork]))
        // A whole title names its session even when its fork's title contains it.
        #expect(SessionMatch.find("Plan the migration", in: all) == .found(plan))
        #expect(SessionMatch.find("(fork)", in: all) == .found(fork))
        #expect(SessionMatch.find("nothing like it", in: all) == .none)
    }

    @Test func theNewestStateIsPulledFirstAndPushedWhereItRuns() throws {
        let onB = Self.session(plan.id, title: "t", newest: ["gpub"])
        #expect(try ResumePlan.make(onB, target: .here, fork: false) == ResumePlan(pullFrom: "gpub", pushTo: nil, fork: false))
        #expect(try ResumePlan.make(onB, target: .pod("gpub"), fork: false) == ResumePlan(pullFrom: nil, pushTo: nil, fork: false))
        #expect(try ResumePlan.make(onB, target: .pod("gpua"), fork: false) == ResumePlan(pullFrom: "gpub", pushTo: "gpua", fork: false))
        #expect(try ResumePlan.make(plan, target: .here, fork: false) == ResumePlan(pullFrom: nil, pushTo: nil, fork: false))
        #expect(try ResumePlan.make(plan, target: .pod("gpua"), fork: false) == ResumePlan(pullFrom: nil, pushTo: "gpua", fork: false))
    }

    @Test func aRunningClaudeIsNamedAndLeftAloneUnlessFork() throws {
        let live = Self.session(plan.id, title: "t", live: ["gpub"])
        do {
            _ = try ResumePlan.make(live, target: .here, fork: false)
            Issue.record("a session open on gpub was resumed here too")
        } catch let error as CCPodError {
            #expect(error.status == .busy)
            #expect(error.message.contains("on gpub"))
        }
        #expect(try ResumePlan.make(live, target: .here, fork: true).fork)
    }

    @Test func aDivergedSessionAsksForASyncFirst() {
        let diverged = Self.session(plan.id, title: "t", newest: ["here", "gpub"])
        #expect(throws: CCPodError.self) { try ResumePlan.make(diverged, target: .here, fork: false) }
    }

    @Test func podNotesAreUnescapedBoundedAndCutEscapesDropped() {
        #expect(SessionNote.unescape(#"a \"b\"\n c \u00e9 \ud83d\ude00"#) == "a \"b\" c é 😀")
        #expect(SessionNote.unescape(#"cut \u00"#) == "cut")
        #expect(SessionNote.unescape(#"red \u001b[31m"#) == "red \u{1b}[31m")
        #expect(SessionNote.unescape(String(repeating: "x", count: 600)).count == 200)
    }
}
