print("metersim")
