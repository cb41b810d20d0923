import LANABPF
import LANAControl
import LANACore
import SystemPackage

extension Daemon {
    /// The configuration file `path`, parsed (``ConfigurationFile``), with
    /// every `filter=` expression compiled (``CompiledFilterOption``) in a
    /// bounded child process, as `fbctl apply` does.
    static func readConfiguration(_ path: String) throws(StartFailure) -> ConfigurationFile {
        let text: String
        do throws(Errno) { text = try CommandFile.read(path) } catch {
            throw StartFailure(description: "cannot read configuration \(path): \(error)")
        }
        let parsed: ConfigurationFile
        do throws(ConfigurationFile.LineError) { parsed = try ConfigurationFile(parsing: text) } catch {
            throw StartFailure(description: "configuration \(path) refused, nothing applied: \(error.errno.strerror) (\(error.errno.symbolicName)): \(error)")
        }
        do throws(ConfigurationFile.LineError) {
            return try parsed.compilingFilters { expression throws(ConfigurationFile.Refusal) in
                do throws(BPFSourceError) { return try CompiledFilterOption.make(expression) } catch {
                    throw ConfigurationFile.Refusal(.invalidArgument, "filter refused: \(error)")
                }
            }
        } catch {
            throw StartFailure(description: "configuration \(path) refused, nothing applied: \(error)")
        }
    }
}
