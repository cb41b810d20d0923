import LANATool

runTool(VLink.self)
