print("meteragent")
