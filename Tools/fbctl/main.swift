import LANATool

TypesHelp.prepare(Array(CommandLine.arguments.dropFirst()))
runTool(FBCtl.self)
