import LANATool

runTool(FBCtl.self)
