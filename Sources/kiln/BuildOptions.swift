import ArgumentParser
import Foundation

/// What `kiln build` builds: the Dockerfile, its stages and arguments, other contexts, and
/// what RUN steps see.
struct BuildInputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Dockerfile path (default: CONTEXT/Dockerfile).")
    var file: String?

    @Option(help: "Stage to build (default: the last one).")
    var target: String?

    @Option(name: .customLong("build-arg"), help: "Build argument KEY=VALUE (repeatable; KEY alone takes it from the environment).")
    var buildArgs: [String] = []

    @Option(name: .customLong("build-context"),
            help: "Additional build context NAME=DIR|docker-image://REF|oci-layout://PATH[:TAG|@DIGEST], used by FROM NAME and COPY --from=NAME (repeatable).")
    var buildContexts: [String] = []

    @Option(help: "Secret for RUN --mount=type=secret: id=NAME,src=FILE or id=NAME,env=VAR (repeatable). Never stored or logged.")
    var secret: [String] = []

    @Option(help: "Network for RUN steps without --network: default (the host's), host or none.")
    var network: String?

    @Option(name: .customLong("add-host"), help: "Add a HOST:IP entry to /etc/hosts of every RUN step (repeatable).")
    var addHosts: [String] = []

    @Option(help: "Target platform (comma-separated). Only this machine's platform can be built.")
    var platform: String?

    @Flag(name: .customLong("no-cache"), help: "Run every step; do not use the cache.")
    var noCache = false

    @Option(name: .customLong("no-cache-filter"), help: "Run the steps of these stages even when cached (STAGE[,STAGE], repeatable).")
    var noCacheFilter: [String] = []

    @Flag(help: "Resolve every base image through its registry (kiln always does; accepted as buildx takes it).")
    var pull = false
}

/// Where the result goes and how it is named.
struct BuildOutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Image reference to name the result (repeatable).")
    var tag: [String] = []

    @Flag(help: "Push the image to every -t reference.")
    var push = false

    @Option(name: [.short, .customLong("output")],
            help: "Output: type=image|registry,name=REF[,push=true]; type=local|tar,dest=PATH; type=oci|docker,dest=PATH[,name=REF] (repeatable).")
    var output: [String] = []

    @Option(help: "Image label KEY=VALUE (repeatable).")
    var label: [String] = []

    @Option(help: "Image annotation [TYPE[,TYPE][PLATFORM]:]KEY=VALUE; TYPE: manifest (default), manifest-descriptor, index, index-descriptor (repeatable).")
    var annotation: [String] = []

    @Option(help: "Write the image ID (the config digest) to this file.")
    var iidfile: String?

    @Option(name: .customLong("metadata-file"), help: "Write build results (image digest and descriptor) as JSON to this file.")
    var metadataFile: String?
}

/// The registry caches a build reads and writes.
struct BuildCacheOptions: ParsableArguments {
    @Option(name: .customLong("cache-from"),
            help: "Import a build cache: type=registry,ref=REF, type=local,src=DIR or just REF (repeatable). A missing or unreachable cache only warns.")
    var cacheFrom: [String] = []

    @Option(name: .customLong("cache-to"),
            help: "Export the build cache: type=registry,ref=REF[,mode=min|max][,oci-mediatypes=][,image-manifest=][,compression=][,compression-level=][,force-compression=][,ignore-error=], type=local,dest=DIR or type=inline (repeatable).")
    var cacheTo: [String] = []

    @Flag(help: "Say why each step that runs missed the cache: the context file, build arg, environment variable, base image or instruction that changed since the nearest cached version.")
    var explain = false
}

/// What a build prints and where its state lives.
struct BuildDisplayOptions: ParsableArguments {
    @Option(help: "Progress output: auto, plain, tty, quiet or rawjson.")
    var progress: String = "auto"

    @Flag(name: .shortAndLong, help: "Print nothing but the image ID on success (as --progress quiet).")
    var quiet = false

    @Option(help: "State directory (cache, content store, snapshots). Default: $KILN_ROOT or ~/.local/share/kiln.")
    var root: String?
}
