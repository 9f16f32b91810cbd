import CCPodKit
import Foundation
import Testing

/// Globs relative to the run directory: what they select and what the pod must list.
@Suite("Artifact selection")
struct ArtifactSelectionTests {
    static let tree = [
        "artifacts/plot.png", "artifacts/sub/deep/plot 2.png",
        "logs/train.log", "logs/eval/eval.log",
        "checkpoints/step-100/model.pt", "checkpoints/step-100/meta.json",
        "checkpoints/step-200/model.pt", "checkpoints/latest/model.pt", "checkpoints/step-x.json",
        "results/eval.json", "results/table.csv",
        "code/train.py", "code/config.json",
        "metrics.json", "notes.txt", "other/x.json",
    ]

    static func selected(_ selection: ArtifactSelection) -> [String] {
        tree.filter(selection.includes).sorted()
    }

    @Test func theDefaultIsTheFourOutputFolders() {
        let selection = ArtifactSelection()
        #expect(selection.listedTops == ["artifacts", "logs", "checkpoints", "results"])
        #expect(Self.selected(selection) == Self.tree.filter {
            ["artifacts", "logs", "checkpoints", "results"].contains(String($0.split(separator: "/")[0]))
        }.sorted())
        // A file named like a default folder, at the top, is not one of them.
        #expect(!selection.includes("logs"))
    }

    @Test func everythingByDefaultLeavesOutTheCodeFolderOnly() {
        let selection = ArtifactSelection(everythingByDefault: true)
        #expect(selection.listedTops == ["."])
        #expect(Self.selected(selection) == Self.tree.filter { !$0.hasPrefix("code/") }.sorted())
        #expect(selection.includes("code"))
    }

    /// `step-*/**` is what is inside the step folders: not a file `step-x.json` beside them.
    @Test func aDoubleStarPatternSelectsTheFilesUnderMatchingFolders() {
        let selection = ArtifactSelection(patterns: ["checkpoints/step-*/**"])
        #expect(selection.listedTops == ["checkpoints"])
        #expect(Self.selected(selection) == ["checkpoints/step-100/meta.json", "checkpoints/step-100/model.pt",
                                             "checkpoints/step-200/model.pt"])
    }

    @Test func aPatternWithoutASlashMatchesANameAtAnyDepth() {
        let selection = ArtifactSelection(patterns: ["*.json"])
        #expect(selection.listedTops == ["."])
        // code/ matches too, but the pod never lists it unless a pattern names it.
        #expect(Self.selected(selection) == ["checkpoints/step-100/meta.json", "checkpoints/step-x.json", "code/config.json",
                                             "metrics.json", "other/x.json", "results/eval.json"])
    }

    @Test func aFolderPatternCoversEverythingUnderIt() {
        let selection = ArtifactSelection(patterns: ["checkpoints/step-100", "results/"])
        // `results/` is `results`: a name, at any depth.
        #expect(selection.listedTops == ["."])
        #expect(Self.selected(selection) == ["checkpoints/step-100/meta.json", "checkpoints/step-100/model.pt",
                                             "results/eval.json", "results/table.csv"])
    }

    @Test func excludesWinOverPatternsAndDefaults() {
        let pt = ArtifactSelection(patterns: ["checkpoints/**"], excludes: ["*.pt"])
        #expect(Self.selected(pt) == ["checkpoints/step-100/meta.json", "checkpoints/step-x.json"])
        let folder = ArtifactSelection(excludes: ["checkpoints/step-*", "logs/eval"])
        #expect(Self.selected(folder) == ["artifacts/plot.png", "artifacts/sub/deep/plot 2.png",
                                          "checkpoints/latest/model.pt",
                                          "logs/train.log", "results/eval.json", "results/table.csv"])
        // An exclude does not change what is listed.
        #expect(folder.listedTops == ArtifactSelection.defaultFolders)
    }

    @Test func questionMarksAndBracketsMatchOneName() {
        let selection = ArtifactSelection(patterns: ["checkpoints/step-[12]00/model.??"])
        #expect(selection.listedTops == ["checkpoints"])
        #expect(Self.selected(selection) == ["checkpoints/step-100/model.pt", "checkpoints/step-200/model.pt"])
        #expect(!ArtifactSelection(patterns: ["step-?00/model.pt"]).includes("checkpoints/step-100/model.pt"))
    }

    @Test func patternsAreNormalized() {
        let selection = ArtifactSelection(patterns: ["./results/", "/logs/train.log", ""], excludes: ["", "./results/table.csv"])
        #expect(selection.patterns == ["results", "logs/train.log"])
        #expect(selection.excludes == ["results/table.csv"])
        #expect(Self.selected(selection) == ["logs/train.log", "results/eval.json"])
    }

    @Test(arguments: [
        (["results/eval.json"], ["results"]),
        (["logs/**", "logs/eval/*.log", "results/*.csv"], ["logs", "results"]),
        (["**/model.pt"], ["."]),
        (["*/model.pt"], ["."]),
        (["step-1*/x"], ["."]),
        (["[cl]ogs/x"], ["."]),
        (["checkpoints"], ["."]),
        (["code/**"], ["code"]),
        (["*.json", "code/config.json"], [".", "code"]),
        (["*.json", "results/x"], ["."]),
    ])
    func listedTopsAreOnlyWhatPatternsCanMatch(_ patterns: [String], _ tops: [String]) {
        #expect(ArtifactSelection(patterns: patterns).listedTops == tops)
    }

    /// A folder the pod lists is an argument of `find`: one that looks like an option or
    /// an operator (`-delete`, `(`) would be read as one, so it is found by listing all.
    @Test(arguments: ["-delete/**", "-fls/x", "(/x", "!/x", "-/y"])
    func topsThatFindWouldTakeForAnExpressionAreNotListedByName(_ pattern: String) {
        let tops = ArtifactSelection(patterns: [pattern]).listedTops
        #expect(tops == ["."])
    }
}
