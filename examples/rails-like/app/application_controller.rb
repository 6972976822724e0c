class ApplicationController
  def index = "hello"
end
