Jets.deploy.configure do
  config.codebuild.project.env.vars.merge!(FROM_DEPLOY: "x")
  config.codebuild.project.env.vars = {DOCKER_HOST: "ssh://other@host"}
end
