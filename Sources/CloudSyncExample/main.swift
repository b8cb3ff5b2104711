import CloudSync
print("hi")
