import Foundation

/// Where ccpod keeps its own files: config (`$XDG_CONFIG_HOME/ccpod`, else
/// `~/.config/ccpod`) and state (`$XDG_STATE_HOME/ccpod`, else `~/.local/state/ccpod`).
/// Folders are created 0700, files 0600.
public struct CCPodLocations: Sendable, Equatable {
    public var configDir: URL
    public var stateDir: URL

    public init(configDir: URL, stateDir: URL) {
        self.configDir = configDir
        self.stateDir = stateDir
    }

    /// The locations for an environment (pass `ProcessInfo.processInfo.environment`).
    public static func resolve(environment env: [String: String]) -> CCPodLocations {
        let home = URL(fileURLWithPath: env["HOME"] ?? NSHomeDirectory(), isDirectory: true)
        func base(_ key: String, _ fallback: String) -> URL {
            if let value = env[key], value.hasPrefix("/") {
                return URL(fileURLWithPath: value, isDirectory: true)
            }
            return home.appendingPathComponent(fallback, isDirectory: true)
        }
        return CCPodLocations(
            configDir: base("XDG_CONFIG_HOME", ".config").appendingPathComponent("ccpod", isDirectory: true),
            stateDir: base("XDG_STATE_HOME", ".local/state").appendingPathComponent("ccpod", isDirectory: true)
        )
    }

    public var configFile: URL { configDir.appendingPathComponent("config.toml") }

    /// Facts derived from this machine's programs (`DerivedValueCache`).
    public var cacheDir: URL { stateDir.appendingPathComponent("cache", isDirectory: true) }

    /// Creates `url` and its missing parents with mode 0700.
    public static func makePrivateDirectory(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(
                at: url, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            throw CCPodError.io("cannot create \(url.path): \(error.localizedDescription)")
        }
    }
}
