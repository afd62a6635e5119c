import ArgumentParser
print("kiln")
