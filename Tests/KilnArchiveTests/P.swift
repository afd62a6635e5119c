import Testing
@Test func placeholderArchive() {}
