/// ccpod's version, printed by `ccpod --version` and sent in the agent handshake.
public enum CCPodVersion {
    public static let string = "0.1.0"
}
