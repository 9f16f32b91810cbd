/// ccpod's version, printed by `ccpod --version` and sent as the RunPod API's user agent.
public enum CCPodVersion {
    /// The version this source tree is, before any tag says more.
    public static let base = "0.1.0"

    /// `git describe` of the tree it was built from (see Plugins/VersionStamp), the
    /// release tarball's VERSION, else `base`; a build between tags names its commit.
    public static var string: String {
        let described = GeneratedVersion.described
        if described.isEmpty { return base }
        return described.hasPrefix("+") ? base + "-dev" + described : described
    }
}
