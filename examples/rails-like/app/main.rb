puts "booted"
