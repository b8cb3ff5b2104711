print("cloudsync-server")
